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

from scaledql import analysis, configs, data, experiments, records, report, scores

# `analysis.agreement`'s answers as the glance table says them
VERDICT_WORDS = {"yes": "agrees", "no": "disagrees", "within noise": "cannot tell"}
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
    against BC's seeds on each dataset, `analysis.seed_comparison` of normalised scores.
    study: {dataset: {"Scaled QL": [record per seed], "BC": [...]}}."""
    out = {}
    for dataset, methods in study.items():
        _, sql = analysis.reference_normalized(methods["Scaled QL"], references)
        _, bc = analysis.reference_normalized(methods["BC"], references)
        behaviour = behaviour_scores(methods["Scaled QL"][0], references)
        out[dataset] = {
            "behaviour data": analysis.seed_comparison(sql, behaviour, seed),
            "BC": analysis.seed_comparison(sql, bc, seed),
        }
    return out


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


def _twin_text(comparison: dict) -> str:
    x, y = comparison["x"]["IQM"], comparison["y"]["IQM"]
    improvement = report.interval(comparison["improvement"])
    return (
        f"IQM {report.interval(x, ' %')} vs {report.interval(y, ' %')}: "
        f"{comparison['verdict']}; P(improvement) {improvement} %"
    )


def _ale_text(comparison: dict) -> str:
    x, y = comparison["x"]["IQM"], comparison["y"]["IQM"]
    return f"IQM {100 * x[0]:.1f} % vs {100 * y[0]:.1f} %: {comparison['verdict']}"


def multi_game_findings(twin: dict[str, dict[str, dict]] | None, ale: dict | None) -> list[Finding]:
    """The multi-game chapter's rows: Scaled QL against its data and against BC on each twin
    dataset, with the ALE `cpu` comparison beside the sub-optimal rows (the ALE track's only
    dataset). twin: `twin_multi_game`'s result or None; ale: `ale_multi_game`'s or None."""
    rows = []
    for dataset in experiments.TWIN_DATASETS:
        for versus in ("behaviour data", "BC"):
            claim = experiments.MULTI_GAME_CLAIMS_BY_DATA[dataset][versus]
            comparison = None if twin is None else twin[dataset][versus]
            ale_row = ale is not None and dataset == experiments.MULTI_GAME_DATA
            rows.append(
                Finding(
                    claim=f"Scaled QL above {'its data' if versus != 'BC' else 'BC'}, {dataset}",
                    chapter="04_multi_game",
                    paper=_paper_text(claim),
                    twin=NOT_RUN if comparison is None else _twin_text(comparison),
                    ale=_ale_text(ale[versus]) if ale_row else "",
                    verdict=_verdict(comparison, claim),
                )
            )
    return rows


def _paper_text(claim: experiments.PaperClaim) -> str:
    if claim.run is not None:
        return f"{claim.run:g} vs {claim.other:g} ({claim.source})"
    if claim.gain is not None:
        return f"+{claim.gain:g} % ({claim.source})"
    return f"{claim.verdict} ({claim.source})"


def _verdict(comparison: dict | None, claim: experiments.PaperClaim) -> str:
    if comparison is None:
        return VERDICT_WORDS["within noise"]
    return VERDICT_WORDS[analysis.agreement(comparison["verdict"], claim.verdict)]


def glance_table(findings: list[Finding]) -> str:
    """The intro page's table as MyST Markdown: claim (linked to its chapter) | the paper |
    the twin | ALE cpu | verdict."""
    lines = [
        "| claim | the paper | the twin (seeds x games) | ALE `cpu` (one seed) | verdict |",
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
    """The multi-game chapter's findings from the records of `preset` and its twin; a study
    with a missing record reads `NOT_RUN`."""
    twin_preset = experiments.TWIN_OF[preset]
    planned = experiments.twin_multi_game(twin_preset, seed)
    study = {
        dataset: {m: [records.load_record(c) for c in seeds] for m, seeds in methods.items()}
        for dataset, methods in planned.items()
    }
    complete = all(
        r is not None for methods in study.values() for rs in methods.values() for r in rs
    )
    twin = None
    if complete:
        first = next(iter(next(iter(planned.values())).values()))[0]
        twin = twin_multi_game(study, twin_references(first), seed)
    ale_runs = {m: records.load_record(c) for m, c in experiments.multi_game(preset, seed).items()}
    ale = ale_multi_game(ale_runs, seed) if None not in ale_runs.values() else None
    return multi_game_findings(twin, ale)
