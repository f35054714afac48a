"""Presets and overrides: the paper's settings, clear errors, replace and hashing."""

import dataclasses
import re

import pytest

from scaledql import configs, envs


def test_paper_preset_is_the_papers_setting():
    config = configs.preset("paper")
    assert config.games == envs.TRAIN_GAMES and len(config.games) == 40
    assert config.network.encoder == "resnet101"
    assert config.network.feature_norm and config.network.readout == "spatial"
    assert (config.loss.kind, config.loss.num_atoms, config.loss.cql_alpha) == ("c51", 51, 0.05)
    assert config.train.learning_rate == 2e-4
    assert config.train.batch_size == 512
    assert config.train.target_update_period == 2000
    assert config.data.source == "dqn-replay" and config.data.subset == "initial:20"


def test_game_lists():
    assert len(set(envs.TRAIN_GAMES)) == 40
    assert not set(envs.TRAIN_GAMES) & set(envs.HELD_OUT_GAMES)
    assert set(envs.ABLATION_GAMES) <= set(envs.ALL_GAMES)
    assert len(envs.ALL_GAMES) == 45


@pytest.mark.parametrize("name", list(configs.PRESETS))
def test_every_preset_documents_purpose_runtime_hardware(name):
    doc = configs.PRESETS[name].__doc__.lower()
    assert configs.preset(name).name == name
    assert any(word in doc for word in ("minute", "hour"))  # runtime
    assert any(word in doc for word in ("cpu", "gpu", "tpu"))  # hardware


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(ValueError, match="smoke, cpu, gpu, paper"):
        configs.preset("large")


def test_misspelled_setting_suggests_the_closest_keys():
    with pytest.raises(ValueError, match=r"did you mean train\.num_steps\b") as error:
        configs.override(configs.preset("twin"), ["train.num_step=5"])
    assert "eval.episodes" not in str(error.value)  # the closest keys, not all 67
    with pytest.raises(ValueError, match="network.width"):
        configs.override(configs.preset("smoke"), ["network.widht=2"])
    with pytest.raises(ValueError, match="scaledql settings"):
        configs.override(configs.preset("smoke"), ["colour=blue"])
    with pytest.raises(ValueError, match="not key=value"):
        configs.override(configs.preset("smoke"), ["train.num_steps"])


@pytest.mark.parametrize(
    ("preset", "games", "named"),
    [("twin", "Pong", "Atari (ALE)"), ("cpu", "minatar/Breakout", "MinAtar twin")],
)
def test_a_game_of_the_other_family_is_refused_naming_both(preset, games, named):
    with pytest.raises(ValueError, match=re.escape(f"names {named} games")) as error:
        configs.override(configs.preset(preset), [f"games={games}"])
    fix = (
        "twin-smoke, twin, twin-short, twin-gpu"
        if named == "MinAtar twin"
        else "smoke, cpu, gpu, paper"
    )
    assert f"preset {preset!r}" in str(error.value) and fix in str(error.value)


def test_unknown_game_and_bad_values_name_the_fix():
    with pytest.raises(ValueError, match="Pong"):
        configs.override(configs.preset("smoke"), ["games=Pongg"])
    with pytest.raises(ValueError, match="resnet101"):
        configs.override(configs.preset("smoke"), ["network.encoder=resnet99"])
    with pytest.raises(ValueError, match="expected a int"):
        configs.override(configs.preset("smoke"), ["train.batch_size=big"])


def test_override_parses_each_type():
    config = configs.override(
        configs.preset("smoke"),
        [
            "games=Asterix, Seaquest",
            "network.width=1/8",
            "network.feature_norm=false",
            "network.mlp_sizes=64,32",
            "train.batch_size=16",
            "train.grad_clip_norm=10",
            "loss.cql_alpha=0",
            "seed=3",
        ],
    )
    assert config.games == ("Asterix", "Seaquest")
    assert config.network.width == 0.125 and config.network.feature_norm is False
    assert config.network.mlp_sizes == (64, 32)
    assert config.train.batch_size == 16 and config.train.grad_clip_norm == 10.0
    assert config.loss.cql_alpha == 0.0 and config.seed == 3
    assert configs.override(config, ["train.grad_clip_norm=none"]).train.grad_clip_norm is None


def test_replace_works_and_hash_follows_every_setting():
    base = configs.preset("smoke")
    changed = dataclasses.replace(base, network=dataclasses.replace(base.network, width=0.5))
    assert changed.network.width == 0.5
    assert configs.config_hash(base) == configs.config_hash(configs.preset("smoke"))
    assert configs.config_hash(base) != configs.config_hash(changed)
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.seed = 1


# Hand-copied from the dataclasses when records were first committed. Hashes cover only the
# departures from these defaults, so changing one would silently change what old records mean:
# add a new setting instead (its default must keep the old behaviour).
PINNED_DEFAULTS = {
    "seed": 0,
    "network.encoder": "resnet101",
    "network.width": 1.0,
    "network.readout": "spatial",
    "network.spatial_features": 8,
    "network.norm_groups": 4,
    "network.mlp_sizes": (512,),
    "network.feature_norm": True,
    "network.dtype": "float32",
    "loss.kind": "c51",
    "loss.num_atoms": 51,
    "loss.v_min": -10.0,
    "loss.v_max": 10.0,
    "loss.cql_alpha": 0.05,
    "loss.discount": 0.99,
    "loss.n_step": 1,
    "loss.hl_gauss_sigma": 0.75,
    "data.source": "collected",
    "data.subset": "initial:20",
    "data.runs": (1,),
    "data.behaviour": "dqn",
    "data.steps_per_game": 50_000_000,
    "data.capacity": 1_000_000,
    "data.root": "",
    "train.batch_size": 512,
    "train.learning_rate": 2e-4,
    "train.adam_eps": 3.125e-4,
    "train.grad_clip_norm": None,
    "train.target_update_period": 2000,
    "train.num_steps": 1_000_000,
    "train.steps_per_call": 1,
    "train.passes": 0.0,
    "train.sampler": "host",
    "train.checkpoint_every": 50_000,
    "train.log_every": 1_000,
    "eval.episodes": 10,
    "eval.epsilon": 0.001,
    "eval.max_frames": 108_000,
    "eval.sticky_action_prob": 0.25,
    "eval.at_fractions": (),
    "finetune.pretrained": "",
    "finetune.encoder": "train",
    "online.agent_steps": 0,
    "online.mode": None,
    "online.difficulty": None,
    "online.warmup": 20_000,
    "online.epsilon_decay": 250_000,
    "online.epsilon_final": 0.01,
    "online.update_period": 4,
    "online.replay_capacity": 250_000,
}


def test_defaults_never_change():
    assert {key: configs.default_value(key) for key in PINNED_DEFAULTS} == PINNED_DEFAULTS


def test_hash_covers_each_departure_from_the_defaults_but_not_the_data_root():
    base = configs.preset("cpu")
    assert configs.config_hash(base) == configs.config_hash(
        configs.override(base, ["data.root=/elsewhere"])
    )
    changes = ["seed=1", "games=Pong", "network.width=0.5", "loss.cql_alpha=0", "eval.episodes=3"]
    hashes = {configs.config_hash(configs.override(base, [c])) for c in changes}
    assert len(hashes) == len(changes) and configs.config_hash(base) not in hashes
    # a setting restated at its default value is no departure
    assert configs.config_hash(base) == configs.config_hash(
        configs.override(base, ["network.readout=spatial"])
    )


def test_configs_import_no_jax():
    import subprocess
    import sys

    code = "import sys, scaledql.configs; sys.exit('jax' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_every_setting_is_documented_where_it_is_declared():
    docs = configs.setting_docs()
    assert set(docs) == set(configs.setting_names(configs.preset("paper")))
    assert all(docs.values()), [k for k, v in docs.items() if not v]
    assert docs["train.adam_eps"] == "Adam's epsilon (assumption: single-task CQL on Atari)"
