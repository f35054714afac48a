"""The findings and the results-at-a-glance table, from hand-made records whose verdicts are
known by construction: runs far apart give above/below, identical runs level."""

import json

import numpy as np
import pytest

from scaledql import configs, envs, findings, records, report, scores, studies
from scaledql.studies.base import twin_references

GAMES = ("minatar/Breakout", "minatar/Asterix")
REFERENCES = {game: (0.0, 10.0) for game in GAMES}  # random play 0, final DQN 10
GAME_HELD_OUT = "minatar/Asterix"


def record(config, mean_returns: dict, behaviour: dict, episodes: int = 4) -> dict:
    """A record with `episodes` returns a game spread by +-1 around the given means."""
    spread = np.linspace(-1, 1, episodes)
    return {
        "config": configs.to_dict(config),
        "config_hash": configs.config_hash(config),
        "scores": {
            g: {"mean_return": float(m), "returns": list(m + spread), "human_normalized": None}
            for g, m in mean_returns.items()
        },
        "data": {"behaviour_mean_return": behaviour},
        "provenance": {"date": "2026-12-01T00:00:00+00:00", "command": configs.command(config)},
    }


def study(sql_means: list[float], bc_means: list[float], behaviour: float, **others) -> dict:
    """One dataset's records: a Scaled QL and a BC run per seed (and one of each method in
    `others` per seed), the same mean in each game."""
    config = configs.preset("twin-smoke")
    data = dict.fromkeys(GAMES, behaviour)
    means = {"Scaled QL": sql_means, "BC": bc_means, **others}
    return {
        method: [record(config, dict.fromkeys(GAMES, m), data) for m in seeds]
        for method, seeds in means.items()
    }


def test_twin_comparisons_give_the_verdicts_built_into_the_records():
    result = studies.multi_game.compare(
        {
            studies.multi_game.MULTI_GAME_DATA: study(
                [8, 8.5, 9], [2, 2.5, 3], behaviour=5, DT=[3, 4]
            ),
            studies.multi_game.NEAR_OPTIMAL_DATA: study(
                [4, 5, 6], [4, 5, 6], behaviour=9, DT=[7, 8]
            ),
        },
        REFERENCES,
    )
    sub = result[studies.multi_game.MULTI_GAME_DATA]
    assert sub["behaviour data"]["verdict"] == "above" and sub["BC"]["verdict"] == "above"
    # the IQM of normalised scores: Scaled QL's middle seed 8.5 of 10, the data's 5 of 10
    assert sub["BC"]["x"]["IQM"][0] == pytest.approx(0.85)
    assert sub["behaviour data"]["y"]["IQM"][0] == pytest.approx(0.5)
    assert sub["BC"]["improvement"] == (1.0, 1.0, 1.0)  # every seed above every BC seed
    near = result[studies.multi_game.NEAR_OPTIMAL_DATA]
    assert near["BC"]["verdict"] == "level" and near["BC"]["improvement"][0] == 0.5
    assert near["behaviour data"]["verdict"] == "below"

    rows = findings.multi_game_findings(result, ale=None)
    verdicts = {row.claim: row.verdict for row in rows}
    assert verdicts == {
        f"Scaled QL above its data, {studies.multi_game.MULTI_GAME_DATA}": "agrees",
        f"Scaled QL above BC, {studies.multi_game.MULTI_GAME_DATA}": "agrees",
        # the paper puts Scaled QL above its near-optimal data (114.1 vs 93.5): below disagrees
        f"Scaled QL above its data, {studies.multi_game.NEAR_OPTIMAL_DATA}": "disagrees",
        # and only "not below" DT on it (114.1 vs 111.8): level agrees
        f"Scaled QL above BC, {studies.multi_game.NEAR_OPTIMAL_DATA}": "agrees",
        # DT itself: Scaled QL above it on sub-optimal data (77.8 vs 30.6) agrees, below it on
        # near-optimal data disagrees with "not below"
        f"Scaled QL above DT, {studies.multi_game.MULTI_GAME_DATA}": "agrees",
        f"Scaled QL above DT, {studies.multi_game.NEAR_OPTIMAL_DATA}": "disagrees",
    }
    dt_row = next(
        row for row in rows if row.claim.endswith(f"DT, {studies.multi_game.MULTI_GAME_DATA}")
    )
    assert dt_row.paper == "77.8 vs 30.6 %" and dt_row.twin.startswith("IQM ")
    assert rows[0].paper.startswith("77.8 vs 51")


def test_the_glance_table_links_each_claim_to_its_chapter_and_marks_missing_runs():
    rows = findings.multi_game_findings(None, ale=None)
    table = findings.glance_table(rows).splitlines()
    assert table[0].startswith(
        "| claim | the paper | the twin, `twin-short` (seeds x games) | ALE, `cpu`"
    )
    assert len(table) == 2 + len(rows) == 8  # its data, BC and DT on each dataset
    assert all("(04_multi_game.ipynb)" in line and findings.NOT_RUN in line for line in table[2:])
    assert all(line.endswith("| **cannot tell** |") for line in table[2:])


def load_multi_game(preset: str) -> list:
    """The multi-game rows of the glance table, as `findings.load_findings` reads them."""
    return findings.multi_game_rows(studies.multi_game.load(preset, train=False))


def test_the_multi_game_study_reads_the_records_a_preset_made(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALEDQL_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("SCALEDQL_COLLECTIONS", str(tmp_path / "collections"))
    claims, dt = studies.multi_game.twin_studies("twin-smoke")
    first = claims.runs[0].config
    for game in first.games:
        path = records.collection_path("dqn-3000-1000", game, 1)
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"random_returns": [0.0, 0.0], "final_returns": [10.0]}))
    for run in claims.runs:
        config = run.config
        mean = (9.0 if run.key[1] == "Scaled QL" else 1.0) + 0.1 * config.seed
        made = record(config, dict.fromkeys(config.games, mean), dict.fromkeys(GAMES, 3.0))
        records.write_record(made, records.record_path(config))
    rows = load_multi_game("smoke")
    dt_rows = [row for row in rows if " DT, " in row.claim]
    # the Decision Transformer's study has no record yet: its rows read as not run
    assert len(dt_rows) == 2 and all(row.twin == findings.NOT_RUN for row in dt_rows)
    for run in dt.runs:
        made = record(run.config, dict.fromkeys(GAMES, 2.0), dict.fromkeys(GAMES, 3.0))
        records.write_record(made, records.record_path(run.config))
    rows = load_multi_game("smoke")
    assert [row.verdict for row in rows] == ["agrees"] * 6
    assert all(row.ale == "" for row in rows)  # no ALE smoke records in this results folder
    assert all(row.twin.endswith(", 2 seeds") for row in rows)
    # a study stopped part way is read as its whole seeds: here seed 0 only
    near_bc = claims.seeds()[(studies.multi_game.NEAR_OPTIMAL_DATA, "BC")]
    records.record_path(near_bc[1]).unlink()
    one_seed = load_multi_game("smoke")
    # DT's own study is still whole at 2 seeds: its rows say each side's count
    assert [row.twin.split(", ")[-1] for row in one_seed] == ["1 seed"] * 2 + ["1 vs 2 seeds"] + [
        "1 seed"
    ] * 2 + ["1 vs 2 seeds"]
    # one seed has no spread to bootstrap over: its zero-width intervals decide nothing
    assert [row.verdict for row in one_seed] == ["cannot tell"] * 6
    records.record_path(first).unlink()
    assert {row.twin for row in load_multi_game("smoke")} == {findings.NOT_RUN}


def test_missing_collection_summaries_name_the_file_and_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALEDQL_COLLECTIONS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="scaledql train --preset twin-smoke"):
        twin_references(configs.preset("twin-smoke"))


def test_per_game_verdicts_and_the_late_rise_of_q_values():
    config = configs.preset("twin-smoke")
    runs = [record(config, {"a": 5 + s, "b": 1.0}, {}) for s in range(3)]
    others = [record(config, {"a": 1 + s / 10, "b": 1.0}, {}) for s in range(3)]
    assert findings.per_game_against(runs, others) == {"above": ["a"], "below": [], "level": ["b"]}
    for run, q in zip(
        runs, ([0.0, 1.0, 2.0, 4.0], [0.0, 2.0, 2.0, 2.0], [1, 2, 3, 4]), strict=True
    ):
        run["learning_curve"] = [{"q_data": v} for v in q]
    # (4 - 2) / 4, (2 - 2) / 2, (4 - 3) / 4: the middle row is the one at half the curve's length
    assert findings.late_rise(runs) == pytest.approx((0.5 + 0.0 + 0.25) / 3)


def ale_record(returns: dict[str, list[float]], behaviour: dict | None = None) -> dict:
    config = configs.preset("smoke")
    made = record(config, {g: float(np.mean(r)) for g, r in returns.items()}, behaviour or {})
    for game, values in returns.items():
        made["scores"][game]["returns"] = values
    return made


def test_ale_findings_say_their_own_agreement_beside_the_twins():
    # Breakout: random 1.7, human 30.5; Pong: random -20.7, human 14.6
    low = ale_record({"Breakout": [1.7] * 4, "Pong": [-20.7] * 4})
    high = ale_record({"Breakout": [30.0, 31.0, 29.0, 30.5], "Pong": [14.0, 15.0, 14.5, 14.6]})
    sizes = [(10, low), (100, high)]
    rows = findings.scaling_findings({f: sizes for f in studies.scaling.SCALING_CLAIMS})
    cells = {row.claim: row.ale for row in rows}
    assert cells["ResNet + C51 rises with size"] == "rises over 2 sizes: agrees"
    assert cells["IMPALA + C51 does not rise with size"] == "rises over 2 sizes: disagrees"
    assert {row.verdict for row in rows} == {"cannot tell"} and {row.twin for row in rows} == {
        findings.NOT_RUN
    }
    ablations = findings.ablation_findings((high, dict.fromkeys(studies.ablations.ABLATIONS, low)))
    paper_rows, later_rows = (
        ablations[: len(studies.ablations.ABLATIONS)],
        ablations[len(studies.ablations.ABLATIONS) :],
    )
    assert all(row.ale.endswith(": agrees") for row in paper_rows)
    assert [row.ale for row in later_rows] == [""]  # later work runs on the twin only
    offline, *offline_methods, online, online_method = findings.transfer_findings(
        ({"Pong": [1.0, 2.0, 3.0]}, {"Pong": [1.0, 2.0, 3.0]}),
        ({"Pong": [5.0, 6.0, 7.0]}, {"Pong": [0.0, 0.5, 1.0]}),
    )
    # the other methods run on the twin only
    assert {row.ale for row in [*offline_methods, online_method]} == {""}
    assert offline.ale == "helped? not measurably (one run each): cannot tell"
    assert online.ale == "helped? yes (one run each): agrees" and offline.paper == "+45 %"


def test_later_work_is_its_own_study_on_the_ablation_seeds_with_the_later_papers_claim():
    ablations, later = studies.ablations.twin_studies("twin")
    base = ablations.seeds()[("Scaled QL",)]
    seeds = later.seeds()[("TD loss, later work",)]
    assert studies.ablations.LATER_WORK["TD loss, later work"].label == "HL-Gauss"
    assert [c.seed for c in seeds] == [0, 1, 2, 3, 4] and later.of_methods
    for b, s in zip(base, seeds, strict=True):
        assert s == configs.override(b, ["loss.kind=hl_gauss"])
    planned = [c for chapter, _, c in studies.book_runs("twin") if chapter == "06_ablations"]
    assert all(s in planned for s in seeds)
    config = configs.preset("twin-smoke")
    weak = [record(config, dict.fromkeys(GAMES, 2.0 + s / 10), {}) for s in range(3)]
    strong = [record(config, dict.fromkeys(GAMES, 8.0 + s / 10), {}) for s in range(3)]
    # Farebrother et al. put HL-Gauss ahead of C51: a stronger HL-Gauss agrees with them
    twin = studies.ablations.compare(weak, {"TD loss, later work": strong}, REFERENCES)
    (row,) = [r for r in findings.ablation_findings(None, twin=twin) if "later work" in r.claim]
    assert row.claim == "Scaled QL below its variant HL-Gauss (TD loss, later work)"
    assert row.verdict == "agrees" and row.paper == "below"


def test_games_played_identically_on_different_data_are_named():
    config = configs.preset("twin-smoke")
    sub = [record(config, {"a": 1.0, "b": 2.0}, {}) for _ in range(2)]
    near = [record(config, {"a": 1.0, "b": 2.0}, {}) for _ in range(2)]
    near[1]["scores"]["b"]["returns"][0] += 1  # seed 1 played game b differently
    assert findings.identical_play_games({"sub": sub, "near": near}) == ["a"]
    # a study with one whole seed so far is compared on that seed alone
    assert findings.identical_play_games({"sub": sub, "near": near[:1]}) == ["a", "b"]
    assert findings.identical_play_games({"sub": near[:1], "near": sub}) == ["a", "b"]
    # a fine-tuning study, one game a record: game b's seed 1 of "tuned" played otherwise
    study = {
        "a": {"tuned": [record(config, {"a": 1.0}, {}) for _ in range(2)]},
        "b": {"tuned": [record(config, {"b": 2.0}, {}) for _ in range(2)]},
    }
    for game in study:
        study[game]["scratch"] = [record(config, {game: 1.0 + (game == "b")}, {})] * 2
    study["b"]["tuned"][1]["scores"]["b"]["returns"][0] += 1
    assert findings.games_played_alike(study, "tuned", "scratch") == ["a"]


def test_twin_ablations_share_the_multi_game_seeds_and_give_known_verdicts():
    variants = studies.ablations.twin_studies("twin")[0].seeds()
    base = variants.pop(("Scaled QL",))
    claims, _ = studies.multi_game.twin_studies("twin")
    assert base == claims.seeds()[(studies.multi_game.MULTI_GAME_DATA, "Scaled QL")]
    assert [c.seed for c in base] == [0, 1, 2, 3, 4]
    assert [name for (name,) in variants] == list(studies.ablations.ABLATIONS)
    for (name,), seeds in variants.items():
        assert [c.seed for c in seeds] == [0, 1, 2, 3, 4]
        assert configs.changed(base[0], studies.ablations.ABLATIONS[name].changes) == seeds[0]
    config = configs.preset("twin-smoke")
    strong = [record(config, dict.fromkeys(GAMES, 8.0 + s / 10), {}) for s in range(3)]
    weak = [record(config, dict.fromkeys(GAMES, 2.0 + s / 10), {}) for s in range(3)]
    variant_runs = {n: weak if n == "TD loss" else strong for n in studies.ablations.ABLATIONS}
    twin = studies.ablations.compare(strong, variant_runs, REFERENCES)
    rows = {row.claim.split("(")[-1]: row for row in findings.ablation_findings(None, twin=twin)}
    assert rows["TD loss)"].verdict == "agrees"  # Scaled QL above MSE, as Table 1
    assert rows["readout)"].verdict == "cannot tell"  # identical runs are level
    assert rows["TD loss, later work)"].twin == findings.NOT_RUN  # not in the study yet
    # the IQMs of (8.0, 8.1, 8.2) and (2.0, 2.1, 2.2) out of 10, every seed above every seed
    text = rows["TD loss)"].twin
    assert text.startswith("IQM 81.0 [") and " vs 21.0 [" in text
    assert text.endswith("P(better) 1.00, 3 seeds")


def test_twin_scaling_fits_the_slope_built_into_the_records_and_judges_each_family():
    config = configs.preset("twin-smoke")
    sizes = [1_000, 10_000, 100_000, 1_000_000]

    def curve(means: list[float], spread: float = 0.1) -> list[tuple[int, list[dict]]]:
        return [
            (n, [record(config, dict.fromkeys(GAMES, m + spread * s), {}) for s in range(3)])
            for n, m in zip(sizes, means, strict=True)
        ]

    study = {
        "ResNet + C51": curve([1, 3, 5, 7]),
        "ResNet + MSE": curve([7, 5, 3, 1]),
        "IMPALA + C51": curve([4, 4, 4, 4], spread=3),  # seeds at 4, 7, 10 at every size
    }
    result = studies.scaling.compare(study, REFERENCES)
    # at each size the IQM of (m, m+0.1, m+0.2) x 2 games is m + 0.1, out of 10: +2 a decade
    assert result["ResNet + C51"]["slope"][0] == pytest.approx(0.2)
    params, (point, low, high) = result["ResNet + C51"]["sizes"][0]
    assert params == 1_000 and point == pytest.approx(0.11) and 0.1 <= low < point < high <= 0.12
    assert result["ResNet + MSE"]["slope"][0] == pytest.approx(-0.2)
    assert result["IMPALA + C51"]["slope"][0] == pytest.approx(0.0, abs=1e-12)
    assert {f: r["verdict"] for f, r in result.items()} == {
        "ResNet + C51": "above", "ResNet + MSE": "below", "IMPALA + C51": "level"
    }  # fmt: skip
    rows = {row.claim: row for row in findings.scaling_findings(None, twin=result)}
    assert [row.verdict for row in rows.values()] == ["agrees", "disagrees", "agrees"]
    text = rows["ResNet + C51 rises with size"].twin
    assert text.startswith("IQM +20.0 [") and text.endswith("(rises), 4 sizes, 3 seeds")
    single = studies.scaling.compare({"ResNet + C51": curve([1, 3, 5, 7])[:2]}, REFERENCES)
    assert single["ResNet + C51"]["runs"] == (3,)
    # one seed: a rising curve's interval has no width, and the book does not call it flat
    one_seed = {"ResNet + C51": [(n, runs[:1]) for n, runs in curve([1, 3, 5, 7])]}
    alone = studies.scaling.compare(one_seed, REFERENCES)["ResNet + C51"]
    assert alone["verdict"] == "level" and alone["slope"][1] == alone["slope"][2] > 0
    assert findings.slope_direction(alone) == "one seed: no interval to judge"
    row = findings.scaling_findings(None, twin={f: alone for f in study})[0]
    assert row.verdict == "cannot tell"
    assert row.twin.endswith("(one seed: no interval to judge), 4 sizes, 1 seed")
    assert "[" not in row.twin  # a zero-width interval is shown as the point alone


def test_an_interval_of_no_width_reads_as_its_point():
    assert report.interval((0.123, 0.101, 0.14)) == "12.3 [10.1, 14.0]"
    assert report.interval((0.123, 0.101, 0.14), " %") == "12.3 % [10.1, 14.0]"
    assert report.interval((0.05, -0.002, 0.066), signed=True) == "+5.0 [-0.2, +6.6]"
    assert report.interval((0.056, 0.056, 0.056)) == "5.6"
    assert report.interval((-0.0, -0.0, -0.0), " %", signed=True) == "-0.0 %"


def test_a_caption_promises_intervals_only_where_the_bootstrap_can_make_them():
    one_seed = scores.aggregate({"m": np.array([[0.2, 0.5, 0.9]])}, reps=200)["m"]
    assert all(low == high for _, low, high in one_seed.values())  # nothing to resample
    seeds = [{"config": {"seed": s}} for s in (0, 1)]
    assert report.seed_intervals(seeds, "games") == (
        "with 95 % stratified-bootstrap intervals over training seeds x games (rliable)"
    )
    alone = report.seed_intervals(seeds[:1] * 5, "held-out games")
    assert alone.startswith("from one training seed, so without intervals")
    assert "held-out games" in alone and "95 %" not in alone


def test_twin_scaling_pairs_each_size_with_its_seeds():
    (sweep,) = studies.scaling.twin_studies("twin")
    runs = sweep.seeds()
    points = studies.scaling.scaling("twin")
    assert list(runs) == [(p.family, p.label) for p in points]
    assert all(len(seeds) == 3 for seeds in runs.values())
    seeds = runs[("IMPALA + C51", "impala x2")]
    assert [c.seed for c in seeds] == [0, 1, 2] and {c.network.width for c in seeds} == {2.0}
    found = {key: [f"record of {key}, seed {c.seed}" for c in seeds] for key, seeds in runs.items()}
    by_family = studies.scaling.by_family(sweep, found)
    assert list(by_family) == ["ResNet + C51", "ResNet + MSE", "IMPALA + C51"]
    assert [params for params, _ in by_family["ResNet + C51"]] == sorted(
        params for params, _ in by_family["ResNet + C51"]
    )
    assert by_family["IMPALA + C51"][-1][1] == found[("IMPALA + C51", "impala x2")]


def test_twin_transfer_compares_fine_tuned_seeds_with_scratch_over_held_out_games():
    config = configs.preset("twin-smoke")

    def runs(means, game):
        return [record(config, {game: m}, {}) for m in means]

    # per held-out game (a column): fine-tuned far above scratch, frozen identical to fine-tuned
    study = {
        game: {
            findings.FINE_TUNED: runs([6, 7, 8], game),
            findings.FROZEN: runs([6, 7, 8], game),
            findings.SCRATCH: runs([1, 2, 3], game),
        }
        for game in GAMES
    }
    twin = studies.offline_finetuning.compare(study, REFERENCES)
    assert twin[findings.SCRATCH]["verdict"] == "above"
    assert twin[findings.FROZEN]["verdict"] == "level"
    # IQM over 3 seeds x 2 games of (0.6, 0.7, 0.8) twice: the middle half's mean, 0.7
    assert twin[findings.SCRATCH]["x"]["IQM"][0] == pytest.approx(0.7)
    assert twin[findings.SCRATCH]["improvement"] == (1.0, 1.0, 1.0)
    verdicts = findings.held_out_against(study, findings.FINE_TUNED, findings.SCRATCH)
    assert verdicts["above"] == list(GAMES) and not verdicts.get("below")
    rows = findings.transfer_findings(None, None, twin_offline=twin)
    # each chapter's rows: against scratch first, then against the other methods
    offline, online = rows[0], rows[len(studies.offline_finetuning.PRETRAINING_METHODS) + 1]
    # no other method in the study
    assert {r.twin for r in rows if r not in (offline, online)} == {findings.NOT_RUN}
    assert offline.chapter == "07_offline_finetuning" and offline.verdict == "agrees"
    assert offline.twin.startswith("IQM 70.0 [") and offline.paper == "+45 %"
    assert online.twin == findings.NOT_RUN and online.verdict == "cannot tell"


def test_twin_online_compares_pre_trained_seeds_with_scratch_over_the_new_variants():
    config = configs.preset("twin-smoke")

    def runs(means, game):
        return [record(config, {game: m}, {}) for m in means]

    # pre-trained below scratch in every variant: the verdict disagrees with Fig. 8's "above"
    study = {
        game: {findings.PRETRAINED: runs([1, 2, 3], game), findings.SCRATCH: runs([5, 6, 7], game)}
        for game in GAMES
    }
    twin = studies.offline_finetuning.compare(
        study, REFERENCES, tuned=findings.PRETRAINED, versus=(findings.SCRATCH,)
    )
    assert list(twin) == [findings.SCRATCH] and twin[findings.SCRATCH]["verdict"] == "below"
    rows = findings.transfer_findings(None, None, twin_online=twin)
    offline, online = rows[0], rows[len(studies.offline_finetuning.PRETRAINING_METHODS) + 1]
    assert offline.twin == findings.NOT_RUN
    assert online.chapter == "08_online_finetuning" and online.verdict == "disagrees"
    assert online.twin.startswith("IQM 20.0 [") and " vs 60.0 [" in online.twin
    # the study's shape as the chapters and the glance table assemble it from the records
    found = {(g, v): study[g][v] for g in GAMES for v in (findings.PRETRAINED, findings.SCRATCH)}
    assert studies.offline_finetuning.assemble(found, {}) == (
        study,
        (),
        [r for runs in found.values() for r in runs],
    )


def test_other_pre_training_methods_join_the_study_once_whole_and_get_their_own_rows():
    config = configs.preset("twin-smoke")

    def runs(means, game):
        return [record(config, {game: m}, {}) for m in means]

    study = {
        game: {findings.FINE_TUNED: runs([6, 7, 8], game), findings.SCRATCH: runs([1, 2, 3], game)}
        for game in GAMES
    }
    found = {(g, v): seeds for g, variants in study.items() for v, seeds in variants.items()}
    methods = {
        "MAE": {(g, "MAE"): runs([1, 1.5], g) for g in GAMES},  # two whole seeds
        "DT (pre-trained)": {(g, "DT (pre-trained)"): [] for g in GAMES},  # none whole yet
    }
    merged, joined, _ = studies.offline_finetuning.assemble(found, methods)
    assert joined == ("MAE",)
    assert merged[GAMES[0]].keys() == {findings.FINE_TUNED, findings.SCRATCH, "MAE"}
    twin = studies.offline_finetuning.compare(merged, REFERENCES, versus=(findings.SCRATCH, "MAE"))
    rows = {r.claim: r for r in findings.transfer_findings(None, None, twin_offline=twin)}
    mae = rows["Offline fine-tuning: Scaled QL's pre-trained encoder above MAE"]
    assert (
        mae.verdict == "agrees" and mae.paper == "+82 %" and mae.chapter == "07_offline_finetuning"
    )
    assert mae.twin.endswith(", 3 vs 2 seeds")  # each side's seeds where they differ
    # one whole seed of a method: its spread over seeds is unknown, however far apart the IQMs
    one, _, _ = studies.offline_finetuning.assemble(
        found, {"MAE": {(g, "MAE"): runs([1], g) for g in GAMES}}
    )
    twin = studies.offline_finetuning.compare(one, REFERENCES, versus=(findings.SCRATCH, "MAE"))
    rows = {r.claim: r for r in findings.transfer_findings(None, None, twin_offline=twin)}
    mae = rows["Offline fine-tuning: Scaled QL's pre-trained encoder above MAE"]
    assert mae.verdict == "cannot tell" and mae.twin.endswith(", 3 vs 1 seed")
    assert rows[
        "Offline fine-tuning: Scaled QL's pre-trained encoder above DT (pre-trained)"
    ].twin == (findings.NOT_RUN)
    online = rows["Online fine-tuning: pre-trained Scaled QL above MAE"]
    assert online.twin == findings.NOT_RUN and online.chapter == "08_online_finetuning"


def test_each_method_pre_trains_as_the_scaled_ql_run_beside_it_and_fine_tunes_from_itself():
    claims, *methods = studies.offline_finetuning.twin_studies("twin")
    assert [s.name for s in methods] == list(studies.offline_finetuning.PRETRAINING_METHODS)
    plan = claims.seeds(everything=True)
    for method_study in methods:
        runs = method_study.seeds(everything=True)
        for (game, variant), seeds in runs.items():
            if variant == "pre-training":
                continue
            for i, run in enumerate(seeds):
                source = plan[(game, "pre-trained")][i]
                start = runs[(game, "pre-training")][i]
                assert (start.games, start.seed, start.data, start.train) == (
                    source.games,
                    source.seed,
                    source.data,
                    source.train,
                )
                scaled_ql = plan[(game, findings.FINE_TUNED)][i]
                assert (run.games, run.seed, run.data, run.train) == (
                    scaled_ql.games,
                    scaled_ql.seed,
                    scaled_ql.data,
                    scaled_ql.train,
                )
                assert run.finetune.pretrained == configs.config_hash(start)
    mae = methods[0].seeds(everything=True)
    mae_start, mae_run = mae[(GAME_HELD_OUT, "pre-training")][0], mae[(GAME_HELD_OUT, "MAE")][0]
    assert (mae_start.loss.kind, mae_start.network.encoder) == ("mae", "vit")
    assert (mae_run.loss.kind, mae_run.network.encoder, mae_run.finetune.encoder) == (
        "c51",
        "vit",
        "frozen",
    )
    assert mae_run.network.width == mae_start.network.width == 1 / 12
    scaled_ql, online_mae = studies.online_finetuning.twin_studies("twin")
    starts = online_mae.seeds(everything=True)[("pre-training", "MAE")]
    sources = scaled_ql.seeds(everything=True)[("pre-trained",)]
    for start, source in zip(starts, sources, strict=True):
        assert (start.games, start.seed, start.data) == (source.games, source.seed, source.data)
    played = {game for game, _ in online_mae.seeds()}
    assert played == set(envs.minatar.VARIANTS)
