"""Each chapter's runs, the paper's tables, and the record helpers the chapters use."""

import csv
import pathlib

import numpy as np
import pytest

from scaledql import configs, experiments, networks, paper, results

ROOT = pathlib.Path(__file__).resolve().parents[1]


def differences(base, other) -> set[str]:
    """The setting names whose values differ between two configs."""
    base_settings = set(configs.changed_settings(base))
    return {s.split("=")[0] for s in configs.changed_settings(other) if s not in base_settings}


@pytest.mark.parametrize("preset", list(configs.PRESETS))
def test_multi_game_compares_scaled_ql_and_bc_on_the_same_everything_else(preset):
    runs = experiments.multi_game(preset, seed=2, settings=["loss.cql_alpha=0.1"])
    assert runs["Scaled QL"].seed == 2 and runs["Scaled QL"].loss.cql_alpha == 0.1
    assert differences(runs["Scaled QL"], runs["BC"]) == {"loss.kind"}
    assert runs["BC"].loss.kind == "bc"


@pytest.mark.parametrize("preset", list(configs.PRESETS))
def test_each_ablation_changes_exactly_its_setting(preset):
    base, variants = experiments.ablations(preset)
    expected = {  # the paper's four ablations, one setting each
        "TD loss": {"loss.kind"},
        "feature normalisation": {"network.feature_norm"},
        "readout": {"network.readout"},
        "conservatism": {"loss.cql_alpha"},
    }
    assert {name: differences(base, config) for name, (_, config) in variants.items()} == expected
    assert variants["conservatism"][1].loss.cql_alpha == 0.0
    assert variants["TD loss"][1].loss.kind == "mse"


@pytest.mark.parametrize("preset", list(configs.PRESETS))
def test_scaling_has_three_or_more_growing_sizes_per_family(preset):
    points = experiments.scaling(preset)
    families = {p.family for p in points}
    assert families == {"ResNet + C51", "ResNet + MSE", "IMPALA + C51"}
    for family in families:
        sizes = [networks.param_count(p.config) for p in points if p.family == family]
        assert len(sizes) >= 3 and sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
        assert len({p.config.loss.kind for p in points if p.family == family}) == 1


def test_sweeps_carry_the_preset_budget_and_the_readers_settings_win():
    base, _ = experiments.ablations("cpu", settings=["train.num_steps=123"])
    assert base.train.num_steps == 123
    assert experiments.sweep_config("cpu").train.num_steps == 10_000
    assert experiments.sweep_config("smoke") == configs.preset("smoke")


def test_paper_tables_hold_the_reported_numbers():
    with open(ROOT / "data" / "paper" / "aggregates.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6
    assert (
        paper.reported("aggregates", method="Scaled QL", data="initial 20 % (sub-optimal)") == 77.8
    )
    assert paper.reported("table1_loss_capacity", encoder="resnet101", loss="c51") == 98.9
    assert paper.reported("table2_feature_norm", encoder="resnet34", feature_norm="false") == 50.9
    with pytest.raises(KeyError, match="2 rows"):
        paper.reported("table1_loss_capacity", encoder="resnet50")
    with pytest.raises(FileNotFoundError, match="aggregates"):
        paper.table("table9")


def record(games_returns: dict, date: str = "2026-01-01T00:00:00+00:00", seed: int = 0) -> dict:
    return {
        "config": {"name": "cpu", "seed": seed, "games": list(games_returns)},
        "config_hash": "abc",
        "scale": "reduced scale (cpu)",
        "scores": {g: {"returns": r} for g, r in games_returns.items()},
        "provenance": {"date": date},
    }


def test_normalized_episodes_by_hand_and_without_pooyan():
    # Pong: random -20.7, human 14.6; Breakout: random 1.7, human 30.5 (DQN's Atari-57 table)
    first = record({"Pong": [-20.7, 14.6], "Breakout": [1.7, 16.1], "Pooyan": [500.0, 600.0]})
    second = record({"Pong": [-3.05, -20.7], "Breakout": [30.5, 1.7], "Pooyan": [1.0, 2.0]}, seed=1)
    games, matrix = results.normalized_episodes([first, second])
    assert games == ["Pong", "Breakout"]
    np.testing.assert_allclose(matrix, [[0, 0], [1, 0.5], [0.5, 1], [0, 0]], atol=1e-12)


def test_is_stale_by_date_and_flag():
    made = record({"Pong": [0.0]}, date="2026-11-21T08:00:00+00:00")
    assert results.is_stale(made, True) and not results.is_stale(made, False)
    assert results.is_stale(made, "2026-11-21T09:00:00+00:00")
    assert not results.is_stale(made, "2026-11-21T07:59:59+00:00")


def test_caption_names_preset_seeds_games_and_records():
    text = results.caption("Returns.", [record({"Pong": [0.0]}), record({"Pong": [1.0]}, seed=1)])
    assert text.startswith("Returns. Preset `cpu` (reduced scale (cpu)); seeds 0, 1; games: Pong.")
    assert text.endswith("data/results: cpu/abc.json.")


def test_book_runs_lists_each_config_once_and_the_cli_shows_their_state(
    tmp_path, monkeypatch, capsys
):
    from scaledql import cli

    planned = experiments.book_runs("cpu")
    hashes = [configs.config_hash(c) for _, _, c in planned]
    # 2 + 9 + 5 + (1 + 9) + (1 + 6), less the shared runs (one Scaled QL in 4, 7 and 8;
    # the ablation base among the scaling points)
    assert len(hashes) == len(set(hashes)) == 29
    assert [chapter for chapter, _, _ in planned][:2] == ["04_multi_game"] * 2
    monkeypatch.setenv("SCALEDQL_RESULTS", str(tmp_path))
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / f"{hashes[0]}.json").write_text("{}")
    assert cli.main(["runs", "--preset", "cpu"]) == 0
    out = capsys.readouterr().out
    assert f"recorded 04_multi_game  {hashes[0]}" in out
    assert "1 of 29 runs recorded at preset cpu" in out
    assert "scaledql train --preset cpu --set loss.kind=bc" in out


def test_knob_settings_skip_empty_knobs_and_reject_unknown_ones():
    settings = experiments.knob_settings(
        games=["Pong", "Breakout"], encoder="", width=None, cql_alpha=0.5, num_steps=None
    )
    assert settings == ["games=Pong,Breakout", "loss.cql_alpha=0.5"]
    config = configs.override(configs.preset("cpu"), settings)
    assert config.games == ("Pong", "Breakout") and config.loss.cql_alpha == 0.5
    with pytest.raises(ValueError, match="unknown knobs \\['alpha'\\]"):
        experiments.knob_settings(alpha=0.1)


@pytest.mark.parametrize("preset", list(configs.PRESETS))
def test_offline_finetuning_holds_out_its_games_and_varies_only_the_start(preset):
    source, runs = experiments.offline_finetuning(preset, seed=1)
    assert source == experiments.multi_game(preset, seed=1)["Scaled QL"]
    held_out = experiments.HELD_OUT_GAMES[preset]
    assert not set(held_out) & set(source.games)
    source_hash = configs.config_hash(source)
    for variant, by_game in runs.items():
        assert list(by_game) == list(held_out)
        for game, config in by_game.items():
            assert config.games == (game,) and config.network == source.network
            assert config.data.subset.startswith("uniform:") and config.online.agent_steps == 0
            start = (config.finetune.pretrained, config.finetune.encoder)
            assert (
                start
                == {
                    "Scaled QL (fine-tuned)": (source_hash, "train"),
                    "Scaled QL (frozen)": (source_hash, "frozen"),
                    "Scaled QL (scratch)": ("", "train"),
                }[variant]
            )
    assert runs["Scaled QL (fine-tuned)"][held_out[0]].train == (
        runs["Scaled QL (scratch)"][held_out[0]].train
    )


def test_fine_tuning_refuses_a_held_out_game_that_was_pre_trained_on():
    with pytest.raises(ValueError, match="held-out games Alien are also pre-training games"):
        experiments.offline_finetuning("cpu", settings=["games=Alien,Pong"])


@pytest.mark.parametrize("preset", list(configs.PRESETS))
def test_online_finetuning_plays_the_papers_modes_from_pretrained_or_scratch(preset):
    source, runs = experiments.online_finetuning(preset)
    expected = {"Freeway m1d0", "Hero m1d0", "Breakout m12d0"}
    if preset == "smoke":
        expected = {"Breakout m12d0"}
    assert set(runs) == {"Scaled QL (pre-trained)", "Scaled QL (scratch)"}
    for variant, by_game in runs.items():
        assert set(by_game) == expected
        for name, config in by_game.items():
            game, mode = name.split()
            assert config.games == (game,) and f"m{config.online.mode}d0" == mode
            assert config.online.agent_steps > 0 and config.network == source.network
            pretrained = configs.config_hash(source) if "pre-trained" in variant else ""
            assert config.finetune.pretrained == pretrained
    assert runs["Scaled QL (pre-trained)"]["Breakout m12d0"].online.agent_steps == {
        "smoke": 300, "cpu": 25_000, "gpu": 250_000, "paper": 750_000
    }[preset]  # fmt: skip


def test_finetune_cli_names_the_variants_when_nothing_matches(capsys):
    from scaledql import cli

    assert cli.main(["finetune", "--mode", "offline", "--preset", "smoke", "--game", "Pong"]) == 2
    error = capsys.readouterr().err
    assert "variants: Scaled QL (fine-tuned), Scaled QL (frozen), Scaled QL (scratch)" in error
    assert "games: Alien" in error
