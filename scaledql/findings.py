"""What the book found: for each claim of the paper, the MinAtar twin's result over its training
seeds, the ALE `cpu` result, the paper's number and the verdict, computed from run records.

The chapters state their closing verdicts from these functions, and the intro page's
results-at-a-glance table (`glance_table`) is built from the same `Finding`s, so the two can
never disagree. Functions that compute take records (hand-made ones in the tests); `load_*`
functions find the records a preset's chapters made.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from scaledql import analysis, configs, data, experiments, networks, records, report, scores

# `analysis.agreement`'s answers as the glance table says them
VERDICT_WORDS = {"yes": "agrees", "no": "disagrees", "within noise": "cannot tell"}
# `analysis.tally`'s answer to "did A beat B?" as a verdict of A against B
TALLY_VERDICTS = {"Yes": "above", "No": "below", "Mixed": "level", "Not measurably": "level"}
NOT_RUN = "not run yet"
TWIN_NORMALISATION = "0: random play, 1: the final online DQN of the data's run"


@dataclasses.dataclass(frozen=True)
class Finding:
    """One row of the results-at-a-glance table: a claim, the paper's number, ours.

    twin and ale: the result as text (an estimate with its interval and a verdict word), or
    `NOT_RUN`; verdict: the twin's agreement with the paper ("agrees", "disagrees", "cannot
    tell"); chapter: the chapter's page name, which the table links to.
    """

    claim: str
    chapter: str
    paper: str
    twin: str
    ale: str
    verdict: str


def twin_references(config: configs.Config) -> dict[str, tuple[float, float]]:
    """{game: (random, final DQN)}: the mean evaluation returns of random play and of the final
    online DQN in the collection summary of each game's first data run, the twin's 0 and 1."""
    recipe = data.recipe(config)
    references = {}
    for game in config.games:
        summary = records.load_collection(recipe, game, config.data.runs[0])
        if summary is None:
            raise FileNotFoundError(
                f"no collection summary for {game} run {config.data.runs[0]} of recipe {recipe} "
                f"({records.collection_path(recipe, game, config.data.runs[0])}); collect it "
                f"with `{configs.command(config)}`, which collects missing data first"
            )
        references[game] = (
            float(np.mean(summary["random_returns"])),
            float(np.mean(summary["final_returns"])),
        )
    return references


def behaviour_scores(record: dict, references: dict[str, tuple[float, float]]) -> np.ndarray:
    """(1, games): the behaviour data's mean return per game, normalised as the runs are."""
    behaviour = {"scores": {g: {"mean_return": r} for g, r in _behaviour(record).items()}}
    return analysis.reference_normalized([behaviour], references)[1]


def _behaviour(record: dict) -> dict[str, float]:
    return record["data"]["behaviour_mean_return"]


def twin_multi_game(
    study: dict[str, dict[str, list[dict]]],
    references: dict[str, tuple[float, float]],
    seed: int = 0,
) -> dict[str, dict[str, dict]]:
    """{dataset: {versus: comparison}}: Scaled QL's seeds against the behaviour data and
    against the seeds of every other method on each dataset (BC, and DT where the study has
    it), `analysis.seed_comparison` of normalised scores.
    study: {dataset: {"Scaled QL": [record per seed], "BC": [...], ...}}."""
    out = {}
    for dataset, methods in study.items():
        _, sql = analysis.reference_normalized(methods["Scaled QL"], references)
        behaviour = behaviour_scores(methods["Scaled QL"][0], references)
        out[dataset] = {
            "behaviour data": analysis.seed_comparison(sql, behaviour, seed, reference=True)
        }
        for method, runs in methods.items():
            if method != "Scaled QL":
                _, other = analysis.reference_normalized(runs, references)
                out[dataset][method] = analysis.seed_comparison(sql, other, seed)
    return out


def with_comparison_methods(
    study: dict[str, dict[str, list[dict]]], methods: dict[tuple[str, str], list[dict]]
) -> dict[str, dict[str, list[dict]]]:
    """Chapter 4's study with the comparison methods' whole seeds added to each dataset
    (methods: {(dataset, method): [record of each whole seed]}); a method without one stays
    out, so that its rows read as not run."""
    merged = {dataset: dict(runs) for dataset, runs in study.items()}
    for (dataset, method), runs in methods.items():
        if runs:
            merged[dataset][method] = runs
    return merged


def ale_multi_game(runs: dict[str, dict], seed: int = 0) -> dict[str, dict]:
    """{versus: {"x", "y": IQM estimates, "verdict"}}: the ALE chapter's Scaled QL record against
    its behaviour data and against BC, human-normalised, over evaluation episodes."""
    sql = analysis.estimates([runs["Scaled QL"]], "human", seed)
    games, _ = analysis.normalized_episodes([runs["Scaled QL"]], "human")
    data_point = np.array(
        [[scores.normalized_score(g, _behaviour(runs["Scaled QL"])[g]) for g in games]]
    )
    behaviour = scores.aggregate({"data": data_point}, seed=seed)["data"]
    bc = analysis.estimates([runs["BC"]], "human", seed)
    return {
        versus: {"x": sql, "y": other, "verdict": analysis.compare(sql["IQM"], other["IQM"])}
        for versus, other in (("behaviour data", behaviour), ("BC", bc))
    }


def per_game_against(runs: list[dict], others: list[dict], seed: int = 0) -> dict[str, list[str]]:
    """{verdict: games}: per game, the seeds' mean returns of `runs` against those of `others`
    (`analysis.compare_episodes` with training seeds as the samples)."""
    comparisons = {
        game: analysis.compare_episodes(
            [r["scores"][game]["mean_return"] for r in runs],
            [r["scores"][game]["mean_return"] for r in others],
            seed=seed,
        )
        for game in runs[0]["scores"]
    }
    return analysis.tally(comparisons)[1]


def identical_play_games(by_group: dict[str, list[dict]]) -> list[str]:
    """The games in which, seed by seed, every group's runs played exactly the same evaluation
    episodes. A seed's evaluation draws the same sticky actions and exploration in every run,
    so identical returns mean the same greedy play from different data (groups: datasets) or
    different settings (groups: ablation variants): a policy that has not yet learned from what
    differs (in practice, one action whatever the state). by_group: {group: [record of each
    seed, in the same seed order]}; a group with fewer seeds (a study still running) is
    compared on the seeds it has."""
    runs = list(by_group.values())
    games = runs[0][0]["scores"]
    seeds = min(len(r) for r in runs)
    return [
        game
        for game in games
        if all(
            len({tuple(r[i]["scores"][game]["returns"]) for r in runs}) == 1 for i in range(seeds)
        )
    ]


def games_played_alike(
    study: dict[str, dict[str, list[dict]]], variant: str, other: str
) -> list[str]:
    """The games of a fine-tuning study ({game: {variant: [record of each seed]}}, one game a
    record) in which `variant` and `other` played exactly the same episodes, seed by seed
    (`identical_play_games`)."""
    return [
        game
        for game, runs in study.items()
        if identical_play_games({v: runs[v] for v in (variant, other)})
    ]


def late_rise(runs: list[dict], key: str = "q_data") -> float:
    """How much `key` of the learning curves still rose over the second half of training: the
    mean over runs of (last value - value at the middle row) / |last value|. Near 0 for a
    quantity that has settled; Q-values still climbing give a large positive fraction."""
    rises = []
    for run in runs:
        curve = [row[key] for row in run["learning_curve"] if row.get(key) is not None]
        last, middle = curve[-1], curve[len(curve) // 2]
        rises.append((last - middle) / abs(last) if last else float("nan"))
    return float(np.mean(rises))


def _twin_text(comparison: dict) -> str:
    """A twin comparison's cell: both IQMs, P(better) and the seeds behind it, each side's
    where they differ (a reference, such as the behaviour data, has none)."""
    x, y = comparison["x"]["IQM"], comparison["y"]["IQM"]
    x_seeds, *y_seeds = comparison["runs"]
    seeds = f"{x_seeds} seed{'s' if x_seeds > 1 else ''}"
    if y_seeds and y_seeds[0] != x_seeds:
        seeds = f"{x_seeds} vs {y_seeds[0]} seed{'s' if y_seeds[0] > 1 else ''}"
    return (
        f"IQM {report.interval(x)} vs {report.interval(y)} %, "
        f"P(better) {comparison['improvement'][0]:.2f}, {seeds}"
    )


def _ale_text(comparison: dict, claim: experiments.PaperClaim) -> str:
    x, y = comparison["x"]["IQM"], comparison["y"]["IQM"]
    return _ale_cell(f"IQM {100 * x[0]:.2f} vs {100 * y[0]:.2f} %", comparison["verdict"], claim)


def multi_game_findings(twin: dict[str, dict[str, dict]] | None, ale: dict | None) -> list[Finding]:
    """The multi-game chapter's rows: Scaled QL against its data, BC and DT on each twin
    dataset (DT reads as not run until its study has a whole seed), with the ALE `cpu`
    comparison beside the sub-optimal rows (the ALE track's only dataset). twin:
    `twin_multi_game`'s result or None; ale: `ale_multi_game`'s or None."""
    rows = []
    for dataset in experiments.TWIN_DATASETS:
        for versus in ("behaviour data", "BC", experiments.DT):
            claim = experiments.MULTI_GAME_CLAIMS_BY_DATA[dataset][versus]
            comparison = None if twin is None else twin[dataset].get(versus)
            ale_row = ale is not None and dataset == experiments.MULTI_GAME_DATA and versus in ale
            other = "its data" if versus == "behaviour data" else versus
            rows.append(
                Finding(
                    claim=f"Scaled QL above {other}, {dataset}",
                    chapter="04_multi_game",
                    paper=_paper_text(claim),
                    twin=NOT_RUN if comparison is None else _twin_text(comparison),
                    ale=_ale_text(ale[versus], claim) if ale_row else "",
                    verdict=_verdict(comparison, claim),
                )
            )
    return rows


def _paper_text(claim: experiments.PaperClaim) -> str:
    """The paper's numbers for a claim, or its direction where it prints none."""
    if claim.run is not None:
        return f"{claim.run:g} vs {claim.other:g} %"
    if claim.gain is not None:
        return f"+{claim.gain:g} %"
    return claim.verdict


def _verdict(comparison: dict | None, claim: experiments.PaperClaim) -> str:
    # one seed on either side says nothing of the spread over seeds, even where the paper
    # claims only "level" (a reference, such as the behaviour data, has no seeds in "runs")
    if comparison is None or min(comparison["runs"]) < 2:
        return VERDICT_WORDS["within noise"]
    return VERDICT_WORDS[analysis.agreement(comparison["verdict"], claim.verdict)]


def glance_table(findings: list[Finding], preset: str = "cpu") -> str:
    """The intro page's table as MyST Markdown: claim (linked to its chapter) | the paper |
    the twin (at `preset`'s twin) | ALE (at `preset`) | verdict."""
    twin = experiments.TWIN_OF[preset]
    lines = [
        f"| claim | the paper | the twin, `{twin}` (seeds x games) | ALE, `{preset}` (one seed) "
        "| verdict |",
        "| --- | --- | --- | --- | --- |",
    ]
    for f in findings:
        cells = (
            f"[{f.claim}]({f.chapter}.ipynb)",
            f.paper,
            f.twin,
            f.ale or "-",
            f"**{f.verdict}**",
        )
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def load_multi_game(preset: str, seed: int = 0) -> list[Finding]:
    """The multi-game chapter's findings from the records of `preset` and its twin; the twin's
    study is read as its whole seeds (`records.whole_seeds`) and reads `NOT_RUN` without one."""
    planned = experiments.twin_multi_game(experiments.TWIN_OF[preset], seed)
    found = records.whole_seeds({(d, m): c for d, ms in planned.items() for m, c in ms.items()})
    study = {d: {m: found[(d, m)] for m in ms} for d, ms in planned.items()}
    dt = experiments.twin_decision_transformer(experiments.TWIN_OF[preset], seed)
    study = with_comparison_methods(
        study, records.whole_seeds({(d, experiments.DT): c for d, c in dt.items()})
    )
    twin = None
    if found[(experiments.MULTI_GAME_DATA, "Scaled QL")]:
        first = planned[experiments.MULTI_GAME_DATA]["Scaled QL"][0]
        twin = twin_multi_game(study, twin_references(first), seed)
    ale = _loaded(experiments.multi_game(preset, seed))
    ale = None if ale is None else ale_multi_game(ale, seed)
    return multi_game_findings(twin, ale)


def _ale_cell(summary: str, ours: str, claim: experiments.PaperClaim) -> str:
    return f"{summary}: {VERDICT_WORDS[analysis.agreement(ours, claim.verdict)]}"


def twin_scaling(
    study: dict[str, list[tuple[int, list[dict]]]],
    references: dict[str, tuple[float, float]],
    seed: int = 0,
) -> dict[str, dict]:
    """{family: {"sizes": [(parameters, IQM (point, low, high))], "slope": (point, low, high),
    "runs": (fewest seeds at a size,), "verdict"}}: each family's twin-normalised IQM at each
    size over seeds x games, the slope of the IQM per tenfold parameters
    (`scores.iqm_slope`) and its direction (`analysis.slope_trend`). study: {family:
    [(encoder parameters, [record of each seed])]}."""
    out = {}
    for family, sizes in study.items():
        by_size = [analysis.reference_normalized(runs, references)[1] for _, runs in sizes]
        params = [n for n, _ in sizes]
        aggregates = scores.aggregate({i: x for i, x in enumerate(by_size)}, seed=seed)
        slope = scores.iqm_slope(params, by_size, seed=seed)
        fewest = min(len(x) for x in by_size)
        out[family] = {
            "sizes": [(n, aggregates[i]["IQM"]) for i, n in enumerate(params)],
            "slope": slope,
            "runs": (fewest,),
            "verdict": analysis.slope_trend(slope, fewest),
        }
    return out


def slope_direction(result: dict) -> str:
    """A twin curve's direction in words (`twin_scaling`'s result for one family): rises,
    falls or is flat; with one seed at some size, that its interval cannot be judged, since
    the "level" verdict then comes from the missing seed noise, not from a flat slope."""
    if result["runs"][0] < 2:
        return "one seed: no interval to judge"
    return analysis.TREND_WORDS[result["verdict"]]


def _slope_text(result: dict) -> str:
    seeds = result["runs"][0]
    return (
        f"IQM {report.interval(result['slope'], signed=True)} % per 10x parameters "
        f"({slope_direction(result)}), {len(result['sizes'])} sizes, "
        f"{seeds} seed{'s' if seeds > 1 else ''}"
    )


def ale_scaling_sizes(
    points: list[experiments.SizePoint], sweep: list[dict]
) -> dict[str, list[tuple[int, dict]]]:
    """{family: [(parameters, record)]} of the ALE sweep's points and their records, in order,
    as `scaling_findings` takes them."""
    sizes: dict[str, list[tuple[int, dict]]] = {}
    for point, record in zip(points, sweep, strict=True):
        sizes.setdefault(point.family, []).append((networks.param_count(point.config), record))
    return sizes


def scaling_findings(
    ale: dict[str, list[tuple[int, dict]]] | None,
    seed: int = 0,
    twin: dict[str, dict] | None = None,
) -> list[Finding]:
    """The scaling chapter's rows, one per family of Fig. 6. ale: {family: [(parameters,
    record)]} of the ALE sweep, or None; its verdict is `analysis.trend` of the IQMs. twin:
    `twin_scaling`'s result, or None; the row's verdict is its slope's against the paper."""
    rows = []
    for family, claim in experiments.SCALING_CLAIMS.items():
        cell = ""
        if ale is not None:
            sizes = [(n, analysis.estimates([r], "human", seed)["IQM"]) for n, r in ale[family]]
            ours = analysis.trend(sizes)
            cell = _ale_cell(f"{analysis.TREND_WORDS[ours]} over {len(sizes)} sizes", ours, claim)
        result = None if twin is None else twin[family]
        rows.append(
            Finding(
                claim=f"{family} {analysis.TREND_WORDS[claim.verdict]} with size",
                chapter="05_scaling",
                paper=_paper_text(claim),
                twin=NOT_RUN if result is None else _slope_text(result),
                ale=cell,
                verdict=_verdict(result, claim),
            )
        )
    return rows


def twin_ablations(
    base: list[dict],
    variants: dict[str, list[dict]],
    references: dict[str, tuple[float, float]],
    seed: int = 0,
) -> dict[str, dict]:
    """{ablation: `analysis.seed_comparison` of Scaled QL's seeds against the variant's}."""
    _, x = analysis.reference_normalized(base, references)
    return {
        name: analysis.seed_comparison(x, analysis.reference_normalized(runs, references)[1], seed)
        for name, runs in variants.items()
    }


def ablation_findings(
    ale: tuple[dict, dict[str, dict]] | None, seed: int = 0, twin: dict[str, dict] | None = None
) -> list[Finding]:
    """The ablation chapter's rows: Scaled QL against each one-setting variant, the paper's
    ablations then the later work's variants (twin only). ale: (the Scaled QL record,
    {ablation: variant record}), or None; medians, as the paper's tables. twin:
    `twin_ablations`' result (IQMs over seeds x games), or None; a variant it lacks reads as
    not run."""
    rows = []
    for name, ablation in {**experiments.ABLATIONS, **experiments.LATER_WORK}.items():
        cell = ""
        if ale is not None and name in experiments.ABLATIONS:
            base, variants = ale
            x = analysis.estimates([base], "human", seed)["Median"]
            y = analysis.estimates([variants[name]], "human", seed)["Median"]
            ours = analysis.compare(x, y)
            cell = _ale_cell(f"median {100 * x[0]:.2f} vs {100 * y[0]:.2f} %", ours, ablation.paper)
        comparison = None if twin is None else twin.get(name)
        rows.append(
            Finding(
                claim=f"Scaled QL {ablation.paper.verdict} its variant {ablation.label} ({name})",
                chapter="06_ablations",
                paper=_paper_text(ablation.paper),
                twin=NOT_RUN if comparison is None else _twin_text(comparison),
                ale=cell,
                verdict=_verdict(comparison, ablation.paper),
            )
        )
    return rows


def transfer_verdict(
    pretrained: dict[str, list[float]], scratch: dict[str, list[float]], seed: int = 0
) -> tuple[str, str]:
    """(answer, verdict) of "did pre-training help?" from per-game returns of the pre-trained
    and the scratch runs: `analysis.tally` of `compare_episodes`, and its verdict word."""
    comparisons = {
        game: analysis.compare_episodes(pretrained[game], scratch[game], seed=seed)
        for game in pretrained
    }
    answer = analysis.tally(comparisons)[0]
    return answer, TALLY_VERDICTS[answer]


# the offline fine-tuning variants by name, in `experiments.OFFLINE_VARIANTS` order
FINE_TUNED, FROZEN, SCRATCH = experiments.OFFLINE_VARIANTS
PRETRAINED = experiments.ONLINE_PRETRAINED


def twin_transfer(
    study: dict[str, dict[str, list[dict]]],
    references: dict[str, tuple[float, float]],
    seed: int = 0,
    tuned: str = FINE_TUNED,
    versus: tuple[str, ...] = (SCRATCH, FROZEN),
) -> dict[str, dict]:
    """{other: `analysis.seed_comparison` of the `tuned` variant's seeds against those of
    each of `versus`}, each game a column of the score matrices: the held-out games of the
    offline chapter (fine-tuned against scratch and frozen), or the new variants of the
    online chapter (pre-trained against scratch).
    study: {game: {variant: [record of each seed, in the same seed order]}}."""
    games = list(study)

    def scores_of(variant: str) -> np.ndarray:  # (seeds, games)
        columns = [
            analysis.reference_normalized(study[g][variant], {g: references[g]})[1][:, 0]
            for g in games
        ]
        return np.stack(columns, axis=1)

    x = scores_of(tuned)
    return {v: analysis.seed_comparison(x, scores_of(v), seed) for v in versus}


def held_out_against(
    study: dict[str, dict[str, list[dict]]], variant: str, versus: str, seed: int = 0
) -> dict[str, list[str]]:
    """{verdict: held-out games}: `per_game_against` of `variant`'s seeds against `versus`'s
    on each held-out game of a `twin_transfer` study."""
    out: dict[str, list[str]] = {}
    for runs in study.values():
        for verdict, games in per_game_against(runs[variant], runs[versus], seed).items():
            out.setdefault(verdict, []).extend(games)
    return out


def single_game_returns(runs: dict[str, dict]) -> dict[str, list[float]]:
    """{key: evaluation returns} of one-game records (fine-tuning runs) keyed by their game,
    as `transfer_verdict` and `transfer_findings` take them."""
    return {key: r["scores"][r["config"]["games"][0]]["returns"] for key, r in runs.items()}


def transfer_findings(
    offline: tuple | None,
    online: tuple | None,
    seed: int = 0,
    twin_offline: dict[str, dict] | None = None,
    twin_online: dict[str, dict] | None = None,
) -> list[Finding]:
    """The fine-tuning chapters' rows, chapter by chapter: the pre-trained Scaled QL against
    scratch, then against each other pre-training method of the chapter (twin only).
    offline, online: ({game: pre-trained returns}, {game: scratch returns}) of the ALE runs,
    or None; twin_offline, twin_online: `twin_transfer`'s result for each chapter, or None; a
    method it lacks reads as not run."""
    offline_claim = experiments.OFFLINE_FINETUNE_CLAIMS[SCRATCH]
    versus_methods = experiments.OFFLINE_FINETUNE_CLAIMS["other pre-training"]
    claims = [
        ("Offline fine-tuning: the pre-trained encoder above scratch on held-out games",
         "07_offline_finetuning", offline_claim, offline, twin_offline, SCRATCH),
        *((f"Offline fine-tuning: Scaled QL's pre-trained encoder above {method}",
           "07_offline_finetuning", versus_methods, None, twin_offline, method)
          for method in experiments.PRETRAINING_METHODS),
        ("Online fine-tuning: pre-trained above scratch on new game modes",
         "08_online_finetuning", experiments.ONLINE_FINETUNE_CLAIM, online, twin_online, SCRATCH),
        *((f"Online fine-tuning: pre-trained Scaled QL above {method}",
           "08_online_finetuning", experiments.ONLINE_FINETUNE_CLAIM, None, twin_online, method)
          for method in experiments.ONLINE_PRETRAINING_METHODS),
    ]  # fmt: skip
    rows = []
    for claim_text, chapter, claim, ale, twin, versus in claims:
        cell = ""
        if ale is not None:
            answer, ours = transfer_verdict(*ale, seed=seed)
            cell = _ale_cell(f"helped? {answer.lower()} (one run each)", ours, claim)
        comparison = None if twin is None else twin.get(versus)
        rows.append(
            Finding(
                claim_text,
                chapter,
                _paper_text(claim),
                NOT_RUN if comparison is None else _twin_text(comparison),
                cell,
                _verdict(comparison, claim),
            )
        )
    return rows


def _loaded(configs_by_key: dict) -> dict | None:
    """{key: record} of each config, or None when any has no record."""
    found = {key: records.load_record(c) for key, c in configs_by_key.items()}
    return None if None in found.values() else found


def twin_scaling_study(
    plan: list[list[experiments.SizePoint]], found: dict[tuple[str, str], list[dict]]
) -> dict[str, list[tuple[int, list[dict]]]]:
    """{family: [(encoder parameters, [record of each seed])]} of `experiments.twin_scaling`'s
    plan from `found` ({(family, size label): records}), as `twin_scaling` takes a study."""
    study: dict[str, list[tuple[int, list[dict]]]] = {}
    for p in plan[0]:
        params = networks.param_breakdown(p.config)["encoder"]
        study.setdefault(p.family, []).append((params, found[(p.family, p.label)]))
    return study


def twin_scaling_runs(plan: list[list[experiments.SizePoint]]) -> dict[tuple[str, str], list]:
    """{(family, size label): [config of each seed]} of `experiments.twin_scaling`'s plan, as
    `records.whole_seeds` and `pipeline.seed_records` take a study."""
    return {
        (p.family, p.label): [points[i].config for points in plan] for i, p in enumerate(plan[0])
    }


def _load_twin_scaling(preset: str, seed: int) -> dict[str, dict] | None:
    """`twin_scaling` of the whole seeds recorded at `preset`'s twin, or None without one."""
    plan = experiments.twin_scaling(experiments.TWIN_OF[preset], seed)
    found = records.whole_seeds(twin_scaling_runs(plan))
    if not found[next(iter(found))]:
        return None
    return twin_scaling(twin_scaling_study(plan, found), twin_references(plan[0][0].config), seed)


def _load_twin_ablations(preset: str, seed: int) -> dict[str, dict] | None:
    """`twin_ablations` of the whole seeds recorded at `preset`'s twin, the later work's
    variants among them once they have a whole seed, or None without one."""
    twin_preset = experiments.TWIN_OF[preset]
    base, variants = experiments.twin_ablations(twin_preset, seed)
    found = records.whole_seeds({"Scaled QL": base, **{n: c for n, (_, c) in variants.items()}})
    base_runs = found.pop("Scaled QL")
    if not base_runs:
        return None
    later = experiments.twin_later_work(twin_preset, seed)
    found |= {
        name: runs
        for name, runs in records.whole_seeds({n: c for n, (_, c) in later.items()}).items()
        if runs
    }
    return twin_ablations(base_runs, found, twin_references(base[0]), seed)


def twin_transfer_references(
    plan: dict[str, list[tuple[configs.Config, dict[str, configs.Config]]]],
) -> dict[str, tuple[float, float]]:
    """`twin_references` of each held-out game of `experiments.twin_offline_finetuning`'s plan."""
    return {g: twin_references(by_seed[0][1][SCRATCH])[g] for g, by_seed in plan.items()}


def twin_online_study(
    runs: dict[tuple[str, str], list], found: dict[tuple[str, str], list[dict]]
) -> dict[str, dict[str, list[dict]]]:
    """{game: {variant: [record of each seed]}} of `experiments.twin_online_finetuning`'s
    runs, from `found` ({(game, variant): records}), as `twin_transfer` takes a study."""
    study: dict[str, dict[str, list[dict]]] = {}
    for game, variant in runs:
        study.setdefault(game, {})[variant] = found[(game, variant)]
    return study


def twin_online_references(
    runs: dict[tuple[str, str], list[configs.Config]],
) -> dict[str, tuple[float, float]]:
    """`twin_references` of each game the online chapter fine-tunes on. They are of the
    game's default variant (the data's): no DQN was trained on the new variants, so these
    fix each game's scale, not the variant's random or DQN play."""
    return {game: twin_references(seeds[0])[game] for (game, _), seeds in runs.items()}


def with_method_runs(
    study: dict[str, dict[str, list[dict]]], methods: dict[tuple[str, str], list[dict]]
) -> dict[str, dict[str, list[dict]]]:
    """A fine-tuning chapter's study ({game: {variant: [record of each seed]}}) with the other
    pre-training methods' whole seeds added as variants (methods: {(game, method): [record of
    each whole seed]}); a method without one stays out, so that its rows read as not run."""
    merged = {game: dict(variants) for game, variants in study.items()}
    for (game, method), runs in methods.items():
        if runs:
            merged[game][method] = runs
    return merged


def methods_in(study: dict[str, dict[str, list[dict]]], methods) -> tuple[str, ...]:
    """Those of `methods` that every game of a `with_method_runs` study has."""
    return tuple(m for m in methods if all(m in variants for variants in study.values()))


def method_records(method_runs: dict[tuple[str, str], list]) -> dict[tuple[str, str], list]:
    """{(game, method): [record of each whole seed]} of a methods study, each method's seeds
    cut to its own whole seeds, so that one method's rows need not wait for another's."""
    found = {}
    for method in dict.fromkeys(m for _, m in method_runs):
        found |= records.whole_seeds({k: c for k, c in method_runs.items() if k[1] == method})
    return found


def _load_twin_transfer(preset: str, seed: int) -> dict[str, dict] | None:
    """`twin_transfer` of the whole seeds recorded at `preset`'s twin, with the other
    pre-training methods that have a whole seed, or None without one of Scaled QL."""
    twin_preset = experiments.TWIN_OF[preset]
    plan = experiments.twin_offline_finetuning(twin_preset, seed)
    found = records.whole_seeds(experiments.twin_transfer_runs(plan))
    if not found[next(iter(found))]:
        return None
    study = {g: {v: found[(g, v)] for v in plan[g][0][1]} for g in plan}
    _, method_runs = experiments.twin_pretraining_methods(twin_preset, seed)
    study = with_method_runs(study, method_records(method_runs))
    versus = (SCRATCH, FROZEN, *methods_in(study, experiments.PRETRAINING_METHODS))
    return twin_transfer(study, twin_transfer_references(plan), seed, versus=versus)


def _load_twin_online(preset: str, seed: int) -> dict[str, dict] | None:
    """`twin_transfer` of the online chapter's whole seeds at `preset`'s twin, with the
    other pre-training methods that have a whole seed, or None without one."""
    twin_preset = experiments.TWIN_OF[preset]
    _, runs = experiments.twin_online_finetuning(twin_preset, seed)
    found = records.whole_seeds(runs)
    if not found[next(iter(found))]:
        return None
    study = twin_online_study(runs, found)
    _, method_runs = experiments.twin_online_pretraining_methods(twin_preset, seed)
    study = with_method_runs(study, method_records(method_runs))
    versus = (SCRATCH, *methods_in(study, experiments.ONLINE_PRETRAINING_METHODS))
    return twin_transfer(study, twin_online_references(runs), seed, PRETRAINED, versus)


def load_findings(preset: str, seed: int = 0) -> list[Finding]:
    """Every chapter's findings from the committed records of `preset` and of its twin: what
    the intro page's results-at-a-glance table shows."""
    rows = load_multi_game(preset, seed)
    points = experiments.scaling(preset, seed)
    sweep = _loaded({i: p.config for i, p in enumerate(points)})
    ale_sizes = None if sweep is None else ale_scaling_sizes(points, list(sweep.values()))
    rows += scaling_findings(ale_sizes, seed, _load_twin_scaling(preset, seed))
    base, variants = experiments.ablations(preset, seed)
    found = _loaded({"base": base, **{n: c for n, (_, c) in variants.items()}})
    rows += ablation_findings(
        None if found is None else (found.pop("base"), found),
        seed,
        _load_twin_ablations(preset, seed),
    )
    transfer = []
    for build in (experiments.offline_finetuning, experiments.online_finetuning):
        _, runs = build(preset, seed)
        pre = _loaded(next(iter(runs.values())))  # the fine-tuned or pre-trained variant
        scratch = _loaded(runs[SCRATCH])
        if pre is None or scratch is None:
            transfer.append(None)
            continue
        transfer.append((single_game_returns(pre), single_game_returns(scratch)))
    rows += transfer_findings(
        *transfer,
        seed=seed,
        twin_offline=_load_twin_transfer(preset, seed),
        twin_online=_load_twin_online(preset, seed),
    )
    return rows
