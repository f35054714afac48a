"""The multi-game Decision Transformer: causality by perturbation, expert-return sampling on a
hand-made distribution, parameter counts beside Lee et al.'s, and a loss that falls."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scaledql import configs, learner, networks
from scaledql.networks import transformer

CONFIG = configs.override(configs.preset("twin-smoke"), ["loss.kind=dt", "dt.dropout=0"])
STEPS = CONFIG.dt.context


def inputs(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "frames": rng.integers(0, 2, (2, STEPS, 10, 10, 10)).astype(np.uint8),
        "returns": rng.integers(0, 50, (2, STEPS)).astype(np.float32),
        "actions": rng.integers(0, 3, (2, STEPS)).astype(np.int32),
        "rewards": rng.integers(-1, 2, (2, STEPS)).astype(np.float32),
    }


@pytest.fixture(scope="module")
def apply():
    params = networks.init_params(CONFIG, jax.random.key(0))
    model = networks.build_transformer(CONFIG)
    return jax.jit(lambda x: model.apply({"params": params}, **x))


def changed(before, after):
    """{prediction: (T,) bool, which timesteps' logits changed}."""
    return {
        name: np.abs(np.asarray(getattr(after, name)) - np.asarray(getattr(before, name))).max(
            axis=(0, 2)
        )
        > 1e-6
        for name in ("return_logits", "action_logits", "reward_logits")
    }


@pytest.mark.parametrize(
    ("field", "step", "first_changed"),
    [
        # the patches of step 2 come first in it: every prediction of step 2 on sees them
        ("frames", 2, {"return_logits": 2, "action_logits": 2, "reward_logits": 2}),
        # the return token of step 0 (the only one read) comes after its patches
        ("returns", 0, {"return_logits": 1, "action_logits": 0, "reward_logits": 0}),
        # the action of step 1 is predicted from the return token before it
        ("actions", 1, {"return_logits": 2, "action_logits": 2, "reward_logits": 1}),
        # the reward of step 1 is its last token: only step 2 on sees it
        ("rewards", 1, {"return_logits": 2, "action_logits": 2, "reward_logits": 2}),
    ],
)
def test_no_prediction_sees_a_later_token(apply, field, step, first_changed):
    x = inputs()
    perturbed = {k: v.copy() for k, v in x.items()}
    perturbed[field][:, step] = (
        1 - perturbed[field][:, step] if field == "frames" else perturbed[field][:, step] + 1
    )
    moved = changed(apply(x), apply(perturbed))
    for name, first in first_changed.items():
        assert not moved[name][:first].any(), (name, moved[name])  # earlier outputs stay
        assert moved[name][first], (name, moved[name])  # and the token is read at all


def test_only_the_first_return_token_is_read(apply):
    x = inputs()
    later = {**x, "returns": x["returns"].copy()}
    later["returns"][:, 1:] += 7
    moved = changed(apply(x), apply(later))
    assert not any(m.any() for m in moved.values())


def test_causal_mask_lets_a_token_see_itself_and_the_past_only():
    mask = transformer.causal_mask(5)
    assert all(mask[i, j] == (j <= i) for i in range(5) for j in range(5))


def test_tokens_encode_returns_and_reward_signs():
    dt = CONFIG.dt  # returns 0 .. 200
    np.testing.assert_array_equal(
        transformer.return_tokens(jnp.array([-3.0, 0.0, 17.0, 250.0]), dt), [0, 0, 17, 200]
    )
    np.testing.assert_array_equal(transformer.reward_tokens(jnp.array([-2.0, 0.0, 0.5])), [2, 0, 1])


def test_expert_returns_tilt_a_hand_made_distribution():
    probs = np.array([0.1, 0.2, 0.4, 0.2, 0.1])
    kappa = 10.0
    tilt = probs * np.exp(kappa * np.array([0, 0.25, 0.5, 0.75, 1.0]))
    expected = tilt / tilt.sum()  # P(R) exp(kappa (R - min) / (max - min)), normalised
    logits = transformer.expert_return_logits(jnp.log(jnp.asarray(probs)) + 3.0, kappa)
    np.testing.assert_allclose(jax.nn.softmax(logits), expected, rtol=1e-5)
    samples = jax.random.categorical(jax.random.key(0), logits, shape=(20_000,))
    np.testing.assert_allclose(np.bincount(samples, minlength=5) / 20_000, expected, atol=0.015)
    untilted = transformer.expert_return_logits(jnp.log(jnp.asarray(probs)), 0.0)
    np.testing.assert_allclose(jax.nn.softmax(untilted), probs, rtol=1e-5)


def test_the_loss_falls_on_a_fixed_batch():
    config = configs.override(CONFIG, ["train.learning_rate=1e-3"])
    rng = np.random.default_rng(1)
    batch = {
        "frames": rng.integers(0, 2, (8, STEPS, 10, 10, 10)).astype(np.uint8),
        "returns": rng.integers(0, 20, (8, STEPS)).astype(np.float32),
        "action": rng.integers(0, 3, (8, STEPS)).astype(np.int32),
        "reward": rng.integers(0, 2, (8, STEPS)).astype(np.float32),
        "game_id": rng.integers(0, 2, 8).astype(np.int32),
    }
    state = learner.create_train_state(config, learner.random_params(config))
    update = learner.make_update(configs.override(config, ["train.steps_per_call=1"]))
    losses = []
    for _ in range(60):
        state, metrics = update(state, batch)
        losses.append(float(metrics["loss"]))
    assert losses[-1] < 0.5 * losses[0]
    assert {"action_loss", "return_loss", "reward_loss"} <= set(metrics)


def test_the_transformer_settings_leave_other_runs_hashes_alone():
    base = configs.preset("twin")
    assert configs.config_hash(base) == configs.config_hash(
        configs.override(base, ["dt.d_model=32", "dt.num_heads=4"])
    )
    dt = configs.override(base, ["loss.kind=dt"])
    assert configs.config_hash(dt) != configs.config_hash(
        configs.override(dt, ["dt.d_model=32", "dt.num_heads=4"])
    )
    with pytest.raises(ValueError, match="dt.patch_size=3 does not tile the 10x10 frames"):
        configs.override(dt, ["dt.patch_size=3"])
    with pytest.raises(ValueError, match="does not split into dt.num_heads=3"):
        configs.override(dt, ["dt.num_heads=3"])


@pytest.mark.slow
def test_a_twin_smoke_transformer_run_trains_evaluates_and_records(own_storage):
    from scaledql import pipeline

    config = configs.override(configs.preset("twin-smoke"), ["loss.kind=dt"])
    record = pipeline.run_or_load(config, progress=False)
    command = record["provenance"]["command"]
    assert command == "scaledql train --preset twin-smoke --set loss.kind=dt"
    for game in config.games:
        returns = record["scores"][game]["returns"]
        assert len(returns) == config.eval.episodes and all(np.isfinite(returns))
    curve = record["learning_curve"]
    assert curve[-1]["step"] == config.train.num_steps
    assert {"action_loss", "return_loss", "reward_loss"} <= set(curve[-1])


def test_a_pretrained_transformer_passes_on_all_but_its_action_tokens():
    # pre-trained on Breakout and Asterix (5 actions at most), fine-tuned on Seaquest (6)
    pretrained = networks.init_params(CONFIG, jax.random.key(1))
    held_out = configs.override(CONFIG, ["games=minatar/Seaquest"])
    fresh = networks.init_params(held_out, jax.random.key(2))
    moved = networks.transfer_encoder(pretrained, fresh)
    assert moved.keys() == fresh.keys()
    for name in moved:
        source = fresh if name in ("action_embedding", "action_head") else pretrained
        same = jax.tree.map(np.array_equal, moved[name], source[name])
        assert all(jax.tree.leaves(same)), name
    assert moved["action_head"]["kernel"].shape[-1] == 6


def test_pretrained_runs_must_be_of_a_kind_the_fine_tuning_run_can_start_from():
    q = configs.preset("twin-smoke")
    mae = configs.override(q, ["loss.kind=mae", "network.encoder=vit", "network.width=1/12"])
    with pytest.raises(ValueError, match="fine-tunes from a recorded dt run"):
        configs.check_pretrained(CONFIG, q)
    with pytest.raises(ValueError, match="starts from a Q-network or an MAE run"):
        configs.check_pretrained(q, CONFIG)
    with pytest.raises(ValueError, match="set network.encoder=vit and network.width=0.0833333"):
        configs.check_pretrained(q, mae)
    configs.check_pretrained(CONFIG, CONFIG)
    configs.check_pretrained(
        configs.override(q, ["network.encoder=vit", "network.width=1/12"]), mae
    )
    with pytest.raises(ValueError, match="set finetune.encoder=train"):
        configs.override(CONFIG, ["finetune.pretrained=0123456789ab", "finetune.encoder=frozen"])
    with pytest.raises(ValueError, match="set online.agent_steps=0"):
        configs.override(CONFIG, ["online.agent_steps=100", "games=minatar/Breakout"])


@pytest.mark.slow
def test_a_transformer_fine_tunes_offline_from_a_pretrained_one(own_storage):
    from scaledql import checkpoints, pipeline

    source = configs.override(configs.preset("twin-smoke"), ["loss.kind=dt"])
    pipeline.run_or_load(source, progress=False)
    config = configs.override(
        source, ["games=minatar/Asterix", f"finetune.pretrained={configs.config_hash(source)}"]
    )
    start = pipeline.initial_params(config)["patch_embedding"]["kernel"]
    pretrained = checkpoints.load_params(source)["patch_embedding"]["kernel"]
    np.testing.assert_array_equal(start, pretrained)
    record = pipeline.run_or_load(config, progress=False)
    assert len(record["scores"]["minatar/Asterix"]["returns"]) == config.eval.episodes
