"""Each chapter's runs and the paper's claims they carry, the paper's tables, and the record
helpers the chapters use."""

import csv
import json
import pathlib

import pytest

from scaledql import configs, findings, networks, paper, pipeline, records, report, studies
from scaledql.studies.ablations import Ablation
from scaledql.studies.base import PaperClaim

ROOT = pathlib.Path(__file__).resolve().parents[1]


def differences(base, other) -> set[str]:
    """The setting names whose values differ between two configs."""
    base_settings = set(configs.changed_settings(base))
    return {s.split("=")[0] for s in configs.changed_settings(other) if s not in base_settings}


@pytest.mark.parametrize("preset", studies.scales.BOOK_PRESETS)
def test_multi_game_compares_scaled_ql_and_bc_on_the_same_everything_else(preset):
    runs = studies.multi_game.multi_game(preset, seed=2, settings={"loss.cql_alpha": 0.1})
    assert runs["Scaled QL"].seed == 2 and runs["Scaled QL"].loss.cql_alpha == 0.1
    assert differences(runs["Scaled QL"], runs["BC"]) == {"loss.kind"}
    assert runs["BC"].loss.kind == "bc"


@pytest.mark.parametrize("preset", studies.scales.BOOK_PRESETS)
def test_each_ablation_changes_exactly_its_setting(preset):
    base, variants = studies.ablations.ablations(preset)
    assert set(variants) >= {"TD loss", "feature normalisation", "readout", "conservatism"}
    for name, ablation in studies.ablations.ABLATIONS.items():
        assert differences(base, variants[name]) == set(ablation.changes), name
    assert variants["conservatism"].loss.cql_alpha == 0.0
    assert variants["TD loss"].loss.kind == "mse"


def test_each_comparison_carries_the_papers_reported_numbers():
    # the numbers as printed in the paper (Tables 1 and 2, Fig. 5), typed in here by hand
    td = studies.ablations.ABLATIONS["TD loss"].paper
    assert (td.run, td.other, td.verdict) == (98.9, 59.5, "above")
    assert td.difference == pytest.approx(39.4)
    norm = studies.ablations.ABLATIONS["feature normalisation"].paper
    assert (norm.run, norm.other) == (78.0, 50.9) and "Table 2" in norm.source
    assert studies.ablations.ABLATIONS["readout"].paper.difference is None
    assert studies.multi_game.MULTI_GAME_PAPER_IQM == {
        "Scaled QL": 77.8, "Behaviour policy": 51.0, "DT (200M)": 30.6
    }  # fmt: skip
    assert studies.multi_game.MULTI_GAME_CLAIMS["behaviour data"].difference == pytest.approx(26.8)
    assert studies.scaling.SCALING_CLAIMS["IMPALA + C51"].verdict == "not above"
    gains = {k: c.gain for k, c in studies.offline_finetuning.OFFLINE_FINETUNE_CLAIMS.items()}
    assert gains == {"Scaled QL (scratch)": 45.0, "other pre-training": 82.0}
    assert {c.verdict for c in studies.scaling.SCALING_CLAIMS.values()} <= {"above", "not above"}


@pytest.mark.parametrize("preset", studies.scales.BOOK_PRESETS)
def test_scaling_has_three_or_more_growing_sizes_per_family(preset):
    points = studies.scaling.scaling(preset)
    families = {p.family for p in points}
    assert families == {"ResNet + C51", "ResNet + MSE", "IMPALA + C51"}
    for family in families:
        sizes = [networks.param_count(p.config) for p in points if p.family == family]
        assert len(sizes) >= 3 and sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
        assert len({p.config.loss.kind for p in points if p.family == family}) == 1


@pytest.mark.parametrize("twin_preset", ["twin", "twin-short", "twin-gpu"])
def test_the_twins_sweep_has_four_sizes_over_two_orders_of_magnitude_per_family(twin_preset):
    (sweep,) = studies.scaling.twin_studies(twin_preset)
    by_size = sweep.seeds()
    seeds = studies.scales.TWIN_SEEDS["05_scaling"]
    assert [[c.seed for c in configs_] for configs_ in by_size.values()] == [
        list(range(seeds))
    ] * len(by_size)
    for family in ("ResNet + C51", "ResNet + MSE", "IMPALA + C51"):
        sizes = [
            networks.param_breakdown(c[0])["encoder"]
            for (f, _), c in by_size.items()
            if f == family
        ]
        assert len(sizes) >= 4 and sizes == sorted(sizes) and sizes[-1] >= 100 * sizes[0]


@pytest.mark.parametrize(
    ("twin_preset", "default"), [("twin", "resnet4 x1/8"), ("twin-short", "resnet18 x1/8")]
)
def test_the_twins_sweep_shares_its_default_network_with_the_multi_game_runs(twin_preset, default):
    (sweep,) = studies.scaling.twin_studies(twin_preset)
    claims, _ = studies.multi_game.twin_studies(twin_preset)
    scaled_ql = claims.seeds()[(studies.multi_game.MULTI_GAME_DATA, "Scaled QL")]
    shared = sweep.seeds()[("ResNet + C51", default)]
    assert shared == scaled_ql[: len(shared)]
    chapters = [chapter for chapter, _, _ in studies.book_runs(twin_preset)]
    # the shared C51 runs are listed once, under chapter 4
    assert chapters.count("05_scaling") == len(sweep.runs) - len(shared)


def test_sweeps_carry_the_preset_budget_and_the_readers_settings_win():
    base, _ = studies.ablations.ablations("cpu", settings={"train.num_steps": 123})
    assert base.train.num_steps == 123
    assert studies.base.sweep_config("cpu").train.num_steps == 10_000
    assert studies.base.sweep_config("smoke") == configs.preset("smoke")


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


def test_made_before_compares_instants():
    made = record({"Pong": [0.0]}, date="2026-11-21T08:00:00+00:00")
    assert records.made_before(made, "2026-11-21T09:00:00+00:00")
    assert not records.made_before(made, "2026-11-21T07:59:59+00:00")
    assert records.made_before(made, "2026-11-21T08:30:00+00:30") is False  # same instant


def test_run_or_load_retrains_only_when_fresh_asks(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALEDQL_RESULTS", str(tmp_path))
    config = configs.preset("smoke")
    stored = {"provenance": {"date": "2026-11-21T08:00:00+00:00"}, "config_hash": "x"}
    records.write_record(stored, records.record_path(config))
    trained = []

    def learn(config, workdir, progress):
        trained.append(config)
        raise RuntimeError("trained")

    monkeypatch.setattr(pipeline, "_learn_offline", learn)
    assert pipeline.run_or_load(config) == stored
    assert pipeline.run_or_load(config, fresh=True, since="2026-11-21T07:00:00+00:00") == stored
    for since in (None, "2026-11-21T09:00:00+00:00"):
        with pytest.raises(RuntimeError, match="trained"):
            pipeline.run_or_load(config, fresh=True, since=since)
    assert len(trained) == 2


def test_caption_names_study_preset_seeds_games_and_at_most_three_records(monkeypatch):
    monkeypatch.delenv(report.PROVENANCE_ENV, raising=False)
    two = [record({"Pong": [0.0]}), record({"Pong": [1.0]}, seed=1)]
    text = report.caption("Returns.", two, "the multi-game study")
    assert text == (
        "Returns. The multi-game study: preset `cpu` (reduced scale (cpu)); seeds 0, 1; "
        "games: Pong. Run records `cpu/abc.json`, `cpu/abc.json`, `scaledql runs --preset cpu` "
        "lists them with their commands."
    )
    many = [{**record({"minatar/Breakout": [0.0]}, seed=s), "config_hash": f"{s:012x}"}
            for s in range(5)]  # fmt: skip
    for r in many:
        r["config"] = {**r["config"], "name": "twin"}
    text = report.caption("Returns.", many)
    assert "Preset `twin`" in text and "seeds 0-4; games: Breakout. 5 run records," in text
    assert not any(r["config_hash"] in text for r in many)


def test_a_caption_registers_its_records_for_the_runs_page(tmp_path, monkeypatch):
    monkeypatch.setenv(report.PROVENANCE_ENV, str(tmp_path / "04_multi_game.runs.json"))
    scaled = {**record({"Pong": [0.0]}), "config_hash": "aaa"}
    scaled["provenance"] = {**scaled["provenance"], "command": "scaledql train --preset cpu"}
    bc = {**scaled, "config_hash": "bbb"}
    bc["provenance"] = {"command": "scaledql train --preset cpu --set loss.kind=bc --set seed=1"}
    first = report.caption("Returns. More.", {"Scaled QL": scaled, "BC": [bc]}, "a study")
    second = report.caption("Profiles.", [bc])
    assert "{ref}`Runs behind this book <runs-04_multi_game-1>`" in first
    assert "<runs-04_multi_game-2>" in second
    figures = json.loads((tmp_path / "04_multi_game.runs.json").read_text())
    assert [f["caption"] for f in figures] == ["Returns. More.", "Profiles."]
    assert figures[0]["rows"] == [
        {"label": "Scaled QL", "seed": 0, "record": "cpu/aaa.json",
         "command": "scaledql train --preset cpu"},
        {"label": "BC", "seed": 0, "record": "cpu/bbb.json",
         "command": "scaledql train --preset cpu --set loss.kind=bc --set seed=1"},
    ]  # fmt: skip
    assert figures[1]["rows"][0]["label"] == "loss.kind=bc"  # from its command, seed left out


def test_book_runs_lists_each_config_once_and_the_cli_shows_their_state(
    tmp_path, monkeypatch, capsys
):
    from scaledql import cli

    planned = studies.book_runs("cpu")
    hashes = [configs.config_hash(c) for _, _, c in planned]
    # every config the chapters build, however many runs share one (chapter 4's Scaled QL is
    # the pre-trained run of 7 and 8; chapter 6's base and MSE variant are points of 5's sweep)
    base, variants = studies.ablations.ablations("cpu")
    every = [*studies.multi_game.multi_game("cpu").values(), base]
    every += [p.config for p in studies.scaling.scaling("cpu")] + list(variants.values())
    for build in (
        studies.offline_finetuning.offline_finetuning,
        studies.online_finetuning.online_finetuning,
    ):
        source, runs = build("cpu")
        every += [source, *(c for by_game in runs.values() for c in by_game.values())]
    expected = len({configs.config_hash(c) for c in every})
    assert len(hashes) == len(set(hashes)) == expected
    assert [chapter for chapter, _, _ in planned][:2] == ["04_multi_game"] * 2
    monkeypatch.setenv("SCALEDQL_RESULTS", str(tmp_path))
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / f"{hashes[0]}.json").write_text("{}")
    assert cli.main(["runs", "--preset", "cpu"]) == 0
    out = capsys.readouterr().out
    assert f"recorded 04_multi_game  {hashes[0]}" in out
    assert f"1 of {expected} runs recorded at preset cpu" in out
    assert "scaledql train --preset cpu --set loss.kind=bc" in out


def test_a_readers_changes_skip_empty_knobs_let_settings_win_and_reject_unknown_knobs():
    changes = studies.base.changes(
        ["train.num_steps=500", "loss.cql_alpha=0.25"],
        games=["Pong", "Breakout"],
        encoder="",
        width=None,
        cql_alpha=0.5,
        num_steps=None,
    )
    assert changes == {
        "games": ("Pong", "Breakout"),
        "loss.cql_alpha": "0.25",  # the setting's text, after the knob: it wins
        "train.num_steps": "500",
    }
    config = configs.changed(configs.preset("cpu"), changes)
    assert config.games == ("Pong", "Breakout") and config.loss.cql_alpha == 0.25
    assert config.train.num_steps == 500
    assert studies.base.as_text(changes) == [
        "games=Pong,Breakout",
        "loss.cql_alpha=0.25",
        "train.num_steps=500",
    ]
    with pytest.raises(ValueError, match="unknown knobs \\['alpha'\\]"):
        studies.base.changes(alpha=0.1)


def test_typed_changes_match_the_command_lines_settings_and_refuse_wrong_types():
    base = configs.preset("cpu")
    typed = configs.changed(base, {"network.width": 1, "games": ["Pong"], "seed": 3})
    assert typed == configs.override(base, ["network.width=1", "games=Pong", "seed=3"])
    assert isinstance(typed.network.width, float)
    assert configs.config_hash(typed) == configs.config_hash(
        configs.override(base, ["network.width=1.0", "games=Pong", "seed=3"])
    )
    with pytest.raises(ValueError, match="train.num_steps=0.5: expected a int"):
        configs.changed(base, {"train.num_steps": 0.5})
    with pytest.raises(ValueError, match="unknown setting 'network.widht'; did you mean"):
        configs.changed(base, {"network.widht": 0.5})


@pytest.mark.parametrize("preset", studies.scales.BOOK_PRESETS)
def test_offline_finetuning_holds_out_its_games_and_varies_only_the_start(preset):
    source, runs = studies.offline_finetuning.offline_finetuning(preset, seed=1)
    assert source == studies.multi_game.multi_game(preset, seed=1)["Scaled QL"]
    held_out = studies.scales.SCALES[preset].held_out
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
        studies.offline_finetuning.offline_finetuning("cpu", settings={"games": ("Alien", "Pong")})


@pytest.mark.parametrize("preset", studies.scales.BOOK_PRESETS)
def test_online_finetuning_plays_the_papers_modes_from_pretrained_or_scratch(preset):
    source, runs = studies.online_finetuning.online_finetuning(preset)
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


def test_twin_leave_one_out_holds_out_every_game_once_from_its_own_pre_training():
    games = configs.preset("twin").games
    by_key = studies.offline_finetuning.twin_studies("twin", first_seed=3)[0].seeds(True)
    assert list(dict.fromkeys(game for game, _ in by_key)) == list(games)
    for held_out in games:
        sources = by_key[(held_out, "pre-trained")]
        assert [source.seed for source in sources] == [3, 4, 5]
        for i, source in enumerate(sources):
            variants = {
                v: by_key[(held_out, v)][i] for v in studies.offline_finetuning.OFFLINE_VARIANTS
            }
            assert held_out not in source.games and len(source.games) == len(games) - 1
            assert list(variants) == list(studies.offline_finetuning.OFFLINE_VARIANTS)
            source_hash = configs.config_hash(source)
            for variant, config in variants.items():
                assert config.games == (held_out,) and config.seed == source.seed
                assert config.data.subset == "uniform:1"  # the paper's 1 % of the game's run
                assert config.network == source.network
                expected = "" if variant == "Scaled QL (scratch)" else source_hash
                assert config.finetune.pretrained == expected
            assert (variants["Scaled QL (frozen)"].finetune.encoder == "frozen") and (
                variants["Scaled QL (fine-tuned)"].finetune.encoder != "frozen"
            )


def test_chapters_train_the_twin_study_only_at_twin_smoke_unless_told():
    assert studies.base.trains_twin("twin-smoke")
    assert not studies.base.trains_twin("twin")  # hours: `scaledql runs --train`
    assert studies.base.trains_twin("twin", train=True)
    assert not studies.base.trains_twin("twin-smoke", train=False)


def test_twin_online_fine_tunes_chapter_4s_networks_in_every_new_variant():
    runs = studies.online_finetuning.twin_studies("twin", first_seed=1)[0].seeds(True)
    sources = runs.pop(("pre-trained",))
    claims, _ = studies.multi_game.twin_studies("twin", first_seed=1)
    scaled_ql = claims.seeds()[(studies.multi_game.MULTI_GAME_DATA, "Scaled QL")]
    # the pre-trained runs are the multi-game chapter's Scaled QL seeds, not new runs
    assert [configs.config_hash(c) for c in sources] == [
        configs.config_hash(c) for c in scaled_ql[:3]
    ]
    variant_games = {"minatar/Asterix", "minatar/Breakout", "minatar/Freeway"}
    variant_games.add("minatar/SpaceInvaders")  # Seaquest is the twin game without a variant
    assert {game for game, _ in runs} == variant_games
    assert {arm for _, arm in runs} == {"Scaled QL (pre-trained)", "Scaled QL (scratch)"}
    for (game, arm), seeds in runs.items():
        assert [c.seed for c in seeds] == [1, 2, 3]
        for source, config in zip(sources, seeds, strict=True):
            assert config.games == (game,) and config.online.mode == 1
            assert config.online.difficulty is None and config.online.agent_steps == 50_000
            assert config.network == source.network and config.seed == source.seed
            expected = configs.config_hash(source) if "pre-trained" in arm else ""
            assert config.finetune.pretrained == expected
    smoke_runs = studies.online_finetuning.twin_studies("twin-smoke")[0].seeds(True)
    assert len(smoke_runs.pop(("pre-trained",))) == 2
    assert {g for g, _ in smoke_runs} == {"minatar/Breakout"}
    labels = [label for chapter, label, _ in studies.book_runs("twin")]
    assert "Scaled QL (pre-trained), minatar/Freeway m1, seed 2" in labels


def test_study_status_counts_recorded_runs_and_whole_seeds(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALEDQL_RESULTS", str(tmp_path))
    base = configs.preset("smoke")
    study = {
        key: [configs.override(base, [f"seed={s}", f"train.num_steps={n}"]) for s in range(3)]
        for key, n in (("a", 7), ("b", 9))
    }
    # a: seeds 0, 1, 2 recorded; b: seeds 0 and 2 (seed 1 missing), so one seed is whole
    for config in [*study["a"], study["b"][0], study["b"][2]]:
        records.write_record({}, records.record_path(config))
    assert records.study_progress(study) == {
        "recorded": 5,
        "runs": 6,
        "whole_seeds": 1,
        "planned_seeds": 3,
    }
    assert [len(rs) for rs in records.whole_seeds(study).values()] == [1, 1]
    text = report.study_status(study, "smoke")
    assert text.splitlines() == [
        "5 of 6 runs recorded at preset smoke",
        "1 of the 3 planned seeds whole; the sections below read those",
        "(`scaledql runs --preset smoke --train` makes the rest)",
    ]
    records.record_path(study["a"][0]).unlink()
    assert "No seed is whole yet" in report.study_status(study, "smoke")
    records.write_record({}, records.record_path(study["a"][0]))
    records.write_record({}, records.record_path(study["b"][1]))
    assert report.study_status(study, "smoke") == (
        "6 of 6 runs recorded at preset smoke\n3 of the 3 planned seeds whole"
    )


def test_each_pre_training_method_reports_its_own_runs_and_whole_seeds(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALEDQL_RESULTS", str(tmp_path))
    method_studies = {s.name: s for s in studies.offline_finetuning.twin_studies("twin-smoke")}
    mae = method_studies["MAE"]
    runs = mae.seeds(everything=True)
    games = {game for game, _ in runs}
    seeds = len(runs[next(iter(runs))])
    # MAE's seed 0 whole: its pre-training and fine-tuning on every held-out game
    for run in mae.runs:
        if run.seed == 0:
            records.write_record({}, records.record_path(run.config))
    planned = 2 * len(games) * seeds  # a pre-training and a fine-tuning run a game and seed
    assert mae.status_line().split("\n")[:2] == [
        f"MAE: {2 * len(games)} of {planned} runs recorded at preset twin-smoke",
        f"1 of the {seeds} planned seeds whole; the sections below read those",
    ]
    assert method_studies["BC (pre-trained)"].status_line().split("\n")[:2] == [
        f"BC (pre-trained): 0 of {planned} runs recorded at preset twin-smoke",
        "No seed is whole yet: the sections below wait for one",
    ]
    assert [len(r) for r in mae.load(train=False).values()] == [1] * len(games)
    # chapter 8's method pre-trains once a seed, for every game it then plays
    online = studies.online_finetuning.twin_studies("twin-smoke")[1]
    assert online.status_line().startswith(f"MAE: 0 of {len(online.runs)} runs recorded")
    assert len(online.seeds(everything=True)[("pre-training", "MAE")]) == seeds


def test_a_new_ablation_is_one_entry_that_every_listing_and_the_glance_table_follow(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("SCALEDQL_RESULTS", str(tmp_path))
    name = "target network"
    ablation = Ablation(
        "10x slower copies",
        {"train.target_update_period": 20_000},
        PaperClaim("made up for this test", "above"),
    )
    monkeypatch.setitem(studies.ablations.ABLATIONS, name, ablation)
    for preset in ("smoke", "twin-smoke", "twin"):
        planned = studies.book_runs(preset)
        added = [c for _, label, c in planned if label.startswith(f"{name}: {ablation.label}")]
        if preset in studies.scales.TWIN_PRESETS:
            bases = studies.ablations.twin_studies(preset)[0].seeds()[("Scaled QL",)]
            assert len(bases) == len(studies.base.twin_seeds(preset, "06_ablations"))
        else:
            bases = [studies.ablations.ablations(preset)[0]]
        # one variant for each of Scaled QL's seeds, differing from it in its setting only
        assert [c.seed for c in added] == [c.seed for c in bases]
        for base, config in zip(bases, added, strict=True):
            assert differences(base, config) == {"train.target_update_period"}
    rows = findings.ablation_rows(studies.ablations.load("smoke", train=False))
    row = next(r for r in rows if name in r.claim)
    assert row.paper == "above" and row.twin == findings.NOT_RUN
