"""Fine-tuning: exactly the encoder is transferred, a frozen encoder never moves, end to end,
and a pre-trained run whose checkpoint is gone is trained again to the same parameters."""

import shutil

import jax
import numpy as np
import pytest

from scaledql import checkpoints, configs, learner, networks, pipeline, records


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALEDQL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SCALEDQL_RESULTS", str(tmp_path / "results"))


def smoke(*settings):
    return configs.override(configs.preset("smoke"), list(settings))


def by_path(params) -> dict:
    return {jax.tree_util.keystr(p): np.asarray(v) for p, v in jax.tree.leaves_with_path(params)}


def test_transfer_copies_the_encoder_and_readout_and_nothing_else():
    pretrained = networks.init_params(smoke(), jax.random.key(1))  # Pong, Breakout
    fresh = networks.init_params(smoke("games=Alien"), jax.random.key(2))
    moved = by_path(networks.transfer_encoder(pretrained, fresh))
    theirs, mine = by_path(pretrained), by_path(fresh)
    assert moved.keys() == mine.keys()
    encoder = [k for k in moved if k.startswith(("['encoder']", "['readout']"))]
    rest = [k for k in moved if k not in encoder]
    assert encoder and any("mlp_0" in k for k in rest) and any("head_Alien" in k for k in rest)
    for key in encoder:
        np.testing.assert_array_equal(moved[key], theirs[key])
    for key in rest:
        np.testing.assert_array_equal(moved[key], mine[key])


def test_transfer_names_a_mismatched_encoder():
    pretrained = networks.init_params(smoke(), jax.random.key(1))
    fresh = networks.init_params(smoke("network.width=0.125"), jax.random.key(2))
    with pytest.raises(ValueError, match="'encoder' parameters have other shapes"):
        networks.transfer_encoder(pretrained, fresh)


def test_a_frozen_encoder_gets_no_updates_and_the_rest_does():
    config = smoke("finetune.pretrained=0123456789ab", "finetune.encoder=frozen")
    state = learner.create_train_state(config, learner.random_params(config))
    before = by_path(state.params)
    update = learner.make_update(config)
    for step in range(3):
        state, _ = update(state, learner.random_batch(config, seed=step))
    after = by_path(state.params)
    for key in before:
        if key.startswith(("['encoder']", "['readout']")):
            np.testing.assert_array_equal(after[key], before[key], err_msg=key)
    assert any(not np.array_equal(after[k], before[k]) for k in before if "head_" in k)


def test_a_frozen_encoder_changes_no_gradient_of_the_entries_that_train():
    config = smoke("finetune.pretrained=0123456789ab", "finetune.encoder=frozen")
    state = learner.create_train_state(config, learner.random_params(config))
    batch = learner.random_batch(config, seed=0)
    got, _ = learner.gradients(state, batch, config)
    # the reference: the objective differentiated with respect to every entry
    full, _ = jax.grad(learner.objective, has_aux=True)(
        state.params, state.target_params, batch, config
    )
    got, full = by_path(got), by_path(full)
    assert got.keys() == full.keys()
    for key, value in got.items():
        if key.startswith(("['encoder']", "['readout']")):
            assert not value.any(), key
        else:
            np.testing.assert_allclose(value, full[key], rtol=1e-5, atol=1e-7, err_msg=key)


def test_frozen_without_a_pretrained_run_and_unknown_hashes_are_clear_errors():
    with pytest.raises(ValueError, match="finetune.encoder=frozen needs finetune.pretrained"):
        smoke("finetune.encoder=frozen")
    config = smoke("finetune.pretrained=0123456789ab")
    with pytest.raises(FileNotFoundError, match="no run record has config hash '0123456789ab'"):
        pipeline.initial_params(config)


@pytest.mark.slow
def test_offline_finetuning_starts_from_the_pretrained_encoder_end_to_end():
    pretrained = pipeline.run_or_load(smoke(), progress=False)
    source_params = by_path(checkpoints.load_params(smoke()))
    config = smoke(
        "games=Alien",
        f"finetune.pretrained={pretrained['config_hash']}",
        "finetune.encoder=frozen",
    )
    record = pipeline.run_or_load(config, progress=False)
    assert (
        set(record["scores"]) == {"Alien"}
        and record["scores"]["Alien"]["dqn_normalized"] is not None
    )
    tuned = by_path(checkpoints.load_params(config))
    for key, value in tuned.items():
        if key.startswith(("['encoder']", "['readout']")):
            np.testing.assert_array_equal(value, source_params[key], err_msg=key)
    assert record["config"]["finetune"]["pretrained"] == pretrained["config_hash"]

    # a clone has the pre-trained run's record but not its checkpoint: the next fine-tuning
    # run trains it again, to the same parameters and scores
    shutil.rmtree(checkpoints.default_workdir(smoke()))
    unfrozen = smoke("games=Alien", f"finetune.pretrained={pretrained['config_hash']}")
    pipeline.run_or_load(unfrozen, progress=False)
    again = by_path(checkpoints.load_params(smoke()))
    assert again.keys() == source_params.keys()
    for key, value in again.items():
        np.testing.assert_array_equal(value, source_params[key], err_msg=key)
    rewritten = records.load_record(smoke())
    assert rewritten["scores"] == pretrained["scores"]
    assert rewritten["provenance"]["date"] >= pretrained["provenance"]["date"]
