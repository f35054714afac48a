"""What the book found: for each claim of the paper, the MinAtar twin's result over its training
seeds, the ALE `cpu` result, the paper's number and the verdict, computed from run records.

The chapters state their closing verdicts from these functions, and the intro page's
results-at-a-glance table (`glance_table`) is built from the same `Finding`s, so the two can
never disagree. Functions that compute take records (hand-made ones in the tests) or what a
study's `load` read (the `*_rows` functions); `load_findings` reads every study.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from scaledql import analysis, networks, report, scores, studies
from scaledql.studies.base import PaperClaim, behaviour

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


def ale_multi_game(runs: dict[str, dict], seed: int = 0) -> dict[str, dict]:
    """{versus: {"x", "y": IQM estimates, "verdict"}}: the ALE chapter's Scaled QL record against
    its behaviour data and against BC, human-normalised, over evaluation episodes."""
    sql = analysis.estimates([runs["Scaled QL"]], "human", seed)
    games, _ = analysis.normalized_episodes([runs["Scaled QL"]], "human")
    data_point = np.array(
        [[scores.normalized_score(g, behaviour(runs["Scaled QL"])[g]) for g in games]]
    )
    data = scores.aggregate({"data": data_point}, seed=seed)["data"]
    bc = analysis.estimates([runs["BC"]], "human", seed)
    return {
        versus: {"x": sql, "y": other, "verdict": analysis.compare(sql["IQM"], other["IQM"])}
        for versus, other in (("behaviour data", data), ("BC", bc))
    }


def ale_estimates(records: dict[str, dict], seed: int = 0) -> tuple[dict, dict]:
    """({method: {metric: (point, low, high)}}, {method: (episodes, games) scores}) of the ALE
    multi-game records and of their behaviour data (one row: its mean return a game),
    human-normalised, as `scores.aggregate` gives them."""
    matrices = {}
    for name, record in records.items():
        games, matrices[name] = analysis.normalized_episodes([record], "human")
    data = behaviour(records["Scaled QL"])
    matrices["behaviour data"] = np.array(
        [[scores.normalized_score(g, data[g], "human") for g in games]]
    )
    return scores.aggregate(matrices, seed=seed), matrices


def ale_multi_game_summary(records: dict[str, dict], estimates: dict, preset: str) -> str:
    """Our IQMs beside the paper's, and in how many games Scaled QL's mean return is above its
    data's and BC's. estimates: `ale_estimates`'."""
    sql = records["Scaled QL"]
    games = list(sql["scores"])
    iqm = {name: 100 * e["IQM"][0] for name, e in estimates.items()}
    paper = studies.multi_game.MULTI_GAME_PAPER_IQM
    bc = {g: records["BC"]["scores"][g]["mean_return"] for g in games}
    return (
        f"At the `{preset}` preset ({sql['scale']}), Scaled QL's IQM is "
        f"**{iqm['Scaled QL']:.1f} %** against **{iqm['behaviour data']:.1f} %** for its "
        f"behaviour data and **{iqm['BC']:.1f} %** for BC; the paper reports "
        f"{paper['Scaled QL']} %, {paper['Behaviour policy']} % and "
        f"(for DT) {paper['DT (200M)']} %. Scaled QL's mean return is above the behaviour "
        f"data's {report.how_many(analysis.games_above(sql, behaviour(sql)), len(games))} and "
        f"above BC's {report.how_many(analysis.games_above(sql, bc), len(games))}."
    )


def ale_multi_game_direction(records: dict[str, dict], estimates: dict) -> str:
    """Where Scaled QL's IQM lies against its data's and BC's, against the paper's claims, and
    where they disagree, what the records say of why (data near random play, games without a
    reward signal, a small network and budget, one seed)."""
    sql = records["Scaled QL"]
    versus = {
        other: analysis.compare(estimates["Scaled QL"]["IQM"], estimates[other]["IQM"])
        for other in ("behaviour data", "BC")
    }
    text = (
        f"**Direction.** The paper finds Scaled QL well above its behaviour data and above the "
        f"imitation baselines. Here its IQM is {report.relation(versus['behaviour data'])} its "
        f"data's and {report.relation(versus['BC'])} BC's "
        "(above or below only where the 95 % intervals do not overlap)."
    )
    claims = studies.multi_game.MULTI_GAME_CLAIMS
    if all(analysis.agreement(v, claims[o].verdict) == "yes" for o, v in versus.items()):
        return text
    reference = scores.reference_scores()
    random_play = {g: reference[g].random for g in sql["scores"]}
    flat = analysis.games_without_signal(list(records.values()), behaviour(sql), random_play)
    data_iqm = 100 * estimates["behaviour data"]["IQM"][0]
    network = sql["config"]["network"]
    return text + (
        " That disagrees with the paper, and the records say why it can at this scale. The "
        f"behaviour data scores {data_iqm:.1f} % IQM (the paper's: "
        f"{studies.multi_game.MULTI_GAME_PAPER_IQM['Behaviour policy']} %): it is close to "
        "random play, so there is little good behaviour in it for Q-learning to pick out and "
        "recombine, and BC copies a near-random policy. "
        + (
            f"In {' and '.join(flat)} neither the data nor any policy here beats random play: no "
            "reward signal to learn from. "
            if flat
            else ""
        )
        + f"The network ({network['encoder']} at width {network['width']:g}) and the "
        f"{sql['config']['train']['num_steps']:,} gradient steps are far below the paper's 80M "
        "parameters and long training, and this is one training seed, evaluated on a few "
        "episodes a game."
    )


def multi_game_notes(loaded: studies.multi_game.Loaded, seed: int = 0) -> str:
    """What the twin's records say beside chapter 4's verdicts, a Markdown list: per dataset,
    Scaled QL against each other method game by game, how far its data actions' Q-value still
    rose late in training, and the games it played alike on both datasets."""
    lines = []
    for dataset, methods in loaded.twin.items():
        for other in (m for m in methods if m != "Scaled QL"):
            by_game = per_game_against(methods["Scaled QL"], methods[other], seed)
            verdict = loaded.comparisons[dataset][other]["verdict"]
            lines.append(
                f"- **{dataset}**: Scaled QL's IQM is {report.relation(verdict)} {other}'s. "
                f"Over the seeds, its mean return is {report.where(by_game)}."
            )
        lines.append(
            f"- **{dataset}**: the Q-value of Scaled QL's data actions still rose by "
            f"{100 * late_rise(methods['Scaled QL']):.0f} % of its final value over the second "
            "half of training."
        )
    blind = identical_play_games({d: methods["Scaled QL"] for d, methods in loaded.twin.items()})
    if blind:
        lines.append(
            f"- In {report.series([report.game_name(g) for g in blind])}, every seed of Scaled "
            "QL played exactly the same evaluation episodes after training on the sub-optimal "
            "data as after training on all of it: the same greedy play from different data, a "
            "policy that has not yet learned from its data (in practice one action whatever "
            "the state)."
        )
    return "\n".join(lines)


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


def _ale_text(comparison: dict, claim: PaperClaim) -> str:
    x, y = comparison["x"]["IQM"], comparison["y"]["IQM"]
    return _ale_cell(f"IQM {100 * x[0]:.2f} vs {100 * y[0]:.2f} %", comparison["verdict"], claim)


def multi_game_findings(twin: dict[str, dict[str, dict]] | None, ale: dict | None) -> list[Finding]:
    """The multi-game chapter's rows: Scaled QL against its data, BC and DT on each twin
    dataset (DT reads as not run until its study has a whole seed), with the ALE `cpu`
    comparison beside the sub-optimal rows (the ALE track's only dataset). twin:
    `studies.multi_game.compare`'s result or None; ale: `ale_multi_game`'s or None."""
    rows = []
    for dataset in studies.multi_game.TWIN_DATASETS:
        for versus in ("behaviour data", "BC", studies.multi_game.DT):
            claim = studies.multi_game.MULTI_GAME_CLAIMS_BY_DATA[dataset][versus]
            comparison = None if twin is None else twin[dataset].get(versus)
            ale_row = (
                ale is not None and dataset == studies.multi_game.MULTI_GAME_DATA and versus in ale
            )
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


def _paper_text(claim: PaperClaim) -> str:
    """The paper's numbers for a claim, or its direction where it prints none."""
    if claim.run is not None:
        return f"{claim.run:g} vs {claim.other:g} %"
    if claim.gain is not None:
        return f"+{claim.gain:g} %"
    return claim.verdict


def _verdict(comparison: dict | None, claim: PaperClaim) -> str:
    # one seed on either side says nothing of the spread over seeds, even where the paper
    # claims only "level" (a reference, such as the behaviour data, has no seeds in "runs")
    if comparison is None or min(comparison["runs"]) < 2:
        return VERDICT_WORDS["within noise"]
    return VERDICT_WORDS[analysis.agreement(comparison["verdict"], claim.verdict)]


def glance_table(findings: list[Finding], preset: str = "cpu") -> str:
    """The intro page's table as MyST Markdown: claim (linked to its chapter) | the paper |
    the twin (at `preset`'s twin) | ALE (at `preset`) | verdict."""
    twin = studies.scales.TWIN_OF[preset]
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


def _ale_cell(summary: str, ours: str, claim: PaperClaim) -> str:
    return f"{summary}: {VERDICT_WORDS[analysis.agreement(ours, claim.verdict)]}"


def slope_direction(result: dict) -> str:
    """A twin curve's direction in words (`studies.scaling.compare`'s result for one family): rises,
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
    points: list[studies.scaling.SizePoint], sweep: list[dict]
) -> dict[str, list[tuple[int, dict]]]:
    """{family: [(parameters, record)]} of the ALE sweep's points and their records, in order,
    as `scaling_findings` takes them."""
    sizes: dict[str, list[tuple[int, dict]]] = {}
    for point, record in zip(points, sweep, strict=True):
        sizes.setdefault(point.family, []).append((networks.param_count(point.config), record))
    return sizes


def ale_scaling_table(
    points: list[studies.scaling.SizePoint], sweep: list[dict], seed: int = 0
) -> pd.DataFrame:
    """One row a size of the ALE sweep: its family, size, parameters (all, and the encoder's
    with its spatial embedding) and its IQM and median (point, low, high) over episodes."""
    rows = []
    for point, record in zip(points, sweep, strict=True):
        estimate = analysis.estimates([record], "human", seed)
        rows.append(
            {
                "family": point.family,
                "size": point.label,
                "parameters": networks.param_count(point.config),
                "encoder parameters": networks.param_breakdown(point.config)["encoder"],
                "IQM": estimate["IQM"],
                "Median": estimate["Median"],
            }
        )
    return pd.DataFrame(rows)


def ale_scaling_ends(table: pd.DataFrame, table1: pd.DataFrame, preset: str, scale: str) -> str:
    """Each family's IQM at its smallest and largest size (`ale_scaling_table`'s), beside the
    paper's Table 1 medians at its two sizes (`studies.scaling.paper_table1`'s)."""
    ends = {
        family: " to ".join(f"{100 * group.IQM.iloc[i][0]:.1f} %" for i in (0, -1))
        for family, group in table.sort_values("parameters").groupby("family", sort=False)
    }
    return (
        f"At the `{preset}` preset ({scale}), from the smallest to the largest network "
        f"the IQM goes {ends['ResNet + C51']} for ResNet + C51, {ends['ResNet + MSE']} for "
        f"ResNet + MSE and {ends['IMPALA + C51']} for IMPALA + C51. The paper's Table 1 goes from "
        + " and ".join(
            f"{group.value.iloc[0]} % to {group.value.iloc[-1]} % ({loss.upper()})"
            for loss, group in table1.sort_values("parameters").groupby("loss")
        )
        + " in median between ResNet-50 and ResNet-101."
    )


def ale_scaling_breaks(families: dict[str, pd.DataFrame]) -> str:
    """The sizes where a family's IQM lies outside the range of its curve's two ends
    (`analysis.trend_breaks`), or that there are none. families: {family: its rows of
    `ale_scaling_table`}."""
    breaks = {
        family: analysis.trend_breaks(
            list(
                zip(
                    group["parameters"], group["size"], (100 * e[0] for e in group.IQM), strict=True
                )
            )
        )
        for family, group in families.items()
    }
    named = [
        f"{family} at {', '.join(f'{size} ({point:.1f} %)' for size, point in sizes)}"
        for family, sizes in breaks.items()
        if sizes
    ]
    if not named:
        return "Every curve's middle points lie between its two ends."
    return (
        f"Not monotone: {'; '.join(named)}. There the IQM lies outside the range of the curve's "
        "two ends (point estimates; the table's intervals show how far beyond the noise)."
    )


def scaling_notes(loaded: studies.scaling.Loaded) -> str:
    """What the twin's sweep says beside chapter 5's verdicts, a Markdown list: per family,
    how far the data actions' Q-value still rose late in training at each size, and whether
    every size played the same episodes."""
    lines = []
    for family, sizes in loaded.twin.items():
        same = identical_play_games({n: runs for n, runs in sizes})
        rises = ", ".join(f"{100 * late_rise(runs):+.0f} %" for _, runs in sizes)
        lines.append(
            f"- **{family}**, smallest to largest: the Q-value of the data's actions changed by "
            f"{rises} of its final value over the second half of training."
            + (
                f" In {', '.join(same)}, every size played exactly the same evaluation episodes, "
                "seed by seed: the network's size did not change its greedy play."
                if same
                else ""
            )
        )
    return "\n".join(lines)


def scaling_findings(
    ale: dict[str, list[tuple[int, dict]]] | None,
    seed: int = 0,
    twin: dict[str, dict] | None = None,
) -> list[Finding]:
    """The scaling chapter's rows, one per family of Fig. 6. ale: {family: [(parameters,
    record)]} of the ALE sweep, or None; its verdict is `analysis.trend` of the IQMs. twin:
    `studies.scaling.compare`'s result, or None; the row's verdict is its slope's against the
    paper."""
    rows = []
    for family, claim in studies.scaling.SCALING_CLAIMS.items():
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


def ablation_table(estimates: dict[str, dict]) -> pd.DataFrame:
    """One row an ALE ablation: its variant's label, and Scaled QL's and the variant's median
    and IQM in %. estimates: {"Scaled QL" or ablation: `analysis.estimates` of its record}."""
    base = estimates["Scaled QL"]
    rows = [
        {
            "ablation": name,
            "variant": studies.ablations.variants()[name].label,
            "Scaled QL median (%)": 100 * base["Median"][0],
            "variant median (%)": 100 * ours["Median"][0],
            "Scaled QL IQM (%)": 100 * base["IQM"][0],
            "variant IQM (%)": 100 * ours["IQM"][0],
        }
        for name, ours in estimates.items()
        if name != "Scaled QL"
    ]
    return pd.DataFrame(rows).set_index("ablation")


def ablation_comparison(table: pd.DataFrame, estimates: dict[str, dict]) -> pd.DataFrame:
    """Per ALE ablation (`ablation_table`'s rows): Scaled QL minus the variant in points of
    median, the paper's difference, and whether the median's and the IQM's verdicts take the
    paper's direction (`analysis.agreement`)."""
    rows = []
    for name, row in table.iterrows():
        claim = studies.ablations.variants()[name].paper
        rows.append(
            {
                "ablation": name,
                "variant": row["variant"],
                "ours": round(row["Scaled QL median (%)"] - row["variant median (%)"], 2),
                "paper": round(claim.difference, 1) if claim.difference is not None else "better",
                **{
                    column: analysis.agreement(
                        analysis.compare(estimates["Scaled QL"][metric], estimates[name][metric]),
                        claim.verdict,
                    )
                    for column, metric in (
                        ("same direction", "Median"),
                        ("same direction (IQM)", "IQM"),
                    )
                },
            }
        )
    return pd.DataFrame(rows).set_index("ablation")


def ablation_verdict(comparison: pd.DataFrame, preset: str, scale: str) -> str:
    """Which ablations Scaled QL's full recipe beats, loses to or is level with on the median
    (`ablation_comparison`'s "same direction")."""
    agree, disagree, level = (
        comparison.index[comparison["same direction"] == verdict].tolist()
        for verdict in ("yes", "no", "within noise")
    )
    verdicts = {"beats": agree, "loses to": disagree, "is level within the noise with": level}
    return (
        f"At the `{preset}` preset ({scale}), Scaled QL's full recipe "
        + report.series(
            [
                f"{verb} the variant in {report.series(names)}"
                for verb, names in verdicts.items()
                if names
            ]
        )
        + " (beats or loses only where the two medians' 95 % intervals do not overlap)."
    )


def ablation_metric_notes(
    comparison: pd.DataFrame, ale: tuple[dict, dict[str, dict]], estimates: dict, seed: int = 0
) -> str:
    """Where the IQM's verdict differs from the median's, both estimates and the games in
    which the variant's mean return moved beyond the episode noise (`analysis.games_moved`).
    ale: (the Scaled QL record, {ablation: variant record})."""
    base, variants = ale
    differing = comparison[comparison["same direction"] != comparison["same direction (IQM)"]]
    lines = []
    for name, row in differing.iterrows():
        moved = analysis.games_moved(variants[name], base, seed)
        base_iqm, variant_iqm = (
            report.interval(e["IQM"], " %") for e in (estimates["Scaled QL"], estimates[name])
        )
        lines.append(
            f"- **{name}**: on the IQM, Scaled QL's {base_iqm} against {variant_iqm} for the "
            f'variant ({row["variant"]}) gives "{row["same direction (IQM)"]}" where the median '
            f'gives "{row["same direction"]}". '
            "Beyond the episode noise, the variant's mean return is "
            f"{report.where(moved, {'above': 'ahead of Scaled QL', 'below': 'behind it'})}."
        )
    if not lines:
        return "The IQM gives the same verdict as the median in every ablation."
    return "\n".join(lines)


def ablation_notes(loaded: studies.ablations.Loaded, seed: int = 0) -> str:
    """What the twin's records say beside chapter 6's verdicts, a Markdown list: per variant,
    Scaled QL against it game by game, how far each one's data actions' Q-value still rose
    late in training, and the games where the variant played Scaled QL's episodes."""
    lines = []
    for name, runs in loaded.twin.items():
        label = studies.ablations.variants()[name].label
        comparison = loaded.comparisons[name]
        by_game = per_game_against(loaded.twin_base, runs, seed)
        same = identical_play_games({"Scaled QL": loaded.twin_base, label: runs})
        rises = [100 * late_rise(r) for r in (runs, loaded.twin_base)]
        lines.append(
            f"- **{name}**: Scaled QL's IQM is {report.relation(comparison['verdict'])} the "
            f"variant's ({label}). Over the seeds, Scaled QL's mean return is "
            f"{report.where(by_game)}. The Q-value of the data's actions changed by "
            f"{rises[0]:+.0f} % of its final value over the second half of the variant's "
            f"training (Scaled QL: {rises[1]:+.0f} %)."
            + (
                f" In {report.series([report.game_name(g) for g in same])}, every seed of the "
                "variant played exactly Scaled QL's evaluation episodes: the same greedy play "
                "with the setting changed."
                if same
                else ""
            )
        )
    return "\n".join(lines)


def ablation_findings(
    ale: tuple[dict, dict[str, dict]] | None, seed: int = 0, twin: dict[str, dict] | None = None
) -> list[Finding]:
    """The ablation chapter's rows: Scaled QL against each one-setting variant, the paper's
    ablations then the later work's variants (twin only). ale: (the Scaled QL record,
    {ablation: variant record}), or None; medians, as the paper's tables. twin:
    `studies.ablations.compare`'s result (IQMs over seeds x games), or None; a variant it
    lacks reads as not run."""
    rows = []
    for name, ablation in studies.ablations.variants().items():
        cell = ""
        if ale is not None and name in studies.ablations.ABLATIONS:
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


# the fine-tuning chapters' variants by name
FINE_TUNED = studies.offline_finetuning.FINE_TUNED
FROZEN, SCRATCH = studies.offline_finetuning.FROZEN, studies.offline_finetuning.SCRATCH
PRETRAINED = studies.online_finetuning.ONLINE_PRETRAINED


def held_out_against(
    study: dict[str, dict[str, list[dict]]], variant: str, versus: str, seed: int = 0
) -> dict[str, list[str]]:
    """{verdict: held-out games}: `per_game_against` of `variant`'s seeds against `versus`'s
    on each held-out game of a `studies.offline_finetuning.compare` study."""
    out: dict[str, list[str]] = {}
    for runs in study.values():
        for verdict, games in per_game_against(runs[variant], runs[versus], seed).items():
            out.setdefault(verdict, []).extend(games)
    return out


def single_game_returns(runs: dict[str, dict]) -> dict[str, list[float]]:
    """{key: evaluation returns} of one-game records (fine-tuning runs) keyed by their game,
    as `transfer_verdict` and `transfer_findings` take them."""
    return {key: r["scores"][r["config"]["games"][0]]["returns"] for key, r in runs.items()}


def offline_scores(records: dict[str, dict[str, dict]]) -> pd.DataFrame:
    """DQN-normalised score of each ALE fine-tuning variant (columns) on each held-out game
    (rows), with their mean as a last row. records: {variant: {game: record}}."""
    table = pd.DataFrame(
        {
            variant: {game: r["scores"][game]["dqn_normalized"] for game, r in by_game.items()}
            for variant, by_game in records.items()
        }
    )
    table.loc["mean"] = table.mean()
    return table


def _offline_means(table: pd.DataFrame) -> tuple[float, float, float, float]:
    """(fine-tuned, frozen, scratch) mean DQN-normalised scores and the fine-tuned encoder's
    relative gain over scratch."""
    tuned, frozen, scratch = (table.loc["mean", v] for v in (FINE_TUNED, FROZEN, SCRATCH))
    return tuned, frozen, scratch, analysis.relative_gain(tuned, scratch)


def offline_against_paper(table: pd.DataFrame) -> pd.DataFrame:
    """Our mean gains beside the paper's Fig. 7 numbers. table: `offline_scores`'."""
    tuned, frozen, scratch, gain = _offline_means(table)
    claims = studies.offline_finetuning.OFFLINE_FINETUNE_CLAIMS
    scratch_claim, other_claim = claims[SCRATCH], claims["other pre-training"]
    return pd.DataFrame(
        [
            {
                "comparison": "fine-tuned vs scratch, mean DQN-normalised",
                "ours": f"{100 * gain:+.0f} % ({tuned:.3f} vs {scratch:.3f})",
                "paper": f"+{scratch_claim.gain:.0f} % ({scratch_claim.source}, "
                "ResNet-101, 40 pre-training games)",
            },
            {
                "comparison": "fine-tuned vs frozen, mean DQN-normalised",
                "ours": f"{tuned - frozen:+.3f}",
                "paper": "fine-tuned above frozen (Fig. 7 bars; no number in the text)",
            },
            {
                "comparison": "pre-trained Scaled QL vs DT, BC, CPC, MAE",
                "ours": "not run on ALE: the twin's section below",
                "paper": f"+{other_claim.gain:.0f} % on average ({other_claim.source})",
            },
        ]
    ).set_index("comparison")


def offline_verdict(
    records: dict[str, dict[str, dict]], table: pd.DataFrame, preset: str, scale: str, seed: int
) -> tuple[pd.DataFrame, str]:
    """(per held-out game, the fine-tuned minus the scratch run's mean return with its
    interval and verdict (`analysis.compare_episodes`); the answer to "did pre-training
    help?" in words, with the mean scores of `offline_scores`' table)."""
    comparisons = {
        game: analysis.compare_episodes(
            *(records[v][game]["scores"][game]["returns"] for v in (FINE_TUNED, SCRATCH)),
            seed=seed,
        )
        for game in records[SCRATCH]
    }
    answer, by_verdict = analysis.tally(comparisons)
    tuned, frozen, scratch, gain = _offline_means(table)
    words = {"above": "ahead of scratch", "below": "behind it"}
    shown = pd.DataFrame(comparisons).T.infer_objects()
    return shown.rename_axis("fine-tuned minus scratch, mean return").round(1), (
        f"**Did pre-training help at the `{preset}` preset ({scale})?** "
        f"{report.hedged(answer, 1)}. Beyond the episode noise, the fine-tuned encoder is "
        f"{report.where(by_verdict, words)}. On average it scores {tuned:.3f} DQN-normalised "
        f"against {scratch:.3f} from scratch ({100 * gain:+.0f} %, a mean that one game can "
        f"carry); the frozen encoder scores {frozen:.3f}."
    )


def offline_notes(twin: studies.offline_finetuning.Transfer, seed: int = 0) -> str:
    """What the twin's records say beside chapter 7's verdicts, a Markdown list: the
    fine-tuned encoder against each other variant and method game by game, and the games
    where two of them played the same episodes."""
    lines = []
    for versus, comparison in twin.comparisons.items():
        by_game = held_out_against(twin.study, FINE_TUNED, versus, seed)
        lines.append(
            f"- **Against {versus}**: the fine-tuned encoder's IQM is "
            f"{report.relation(comparison['verdict'])} {versus}'s "
            f"(P(better) {comparison['improvement'][0]:.2f}). Over the seeds, its mean return "
            f"is {report.where(by_game)}."
        )
    same = games_played_alike(twin.study, FINE_TUNED, SCRATCH)
    if same:
        lines.append(
            f"- In {report.series([report.game_name(g) for g in same])}, every seed of the "
            "fine-tuned network played exactly the episodes of the one trained from scratch: "
            "the same greedy play, whatever the start."
        )
    for method in twin.methods:
        alike = games_played_alike(twin.study, FINE_TUNED, method)
        if alike:
            lines.append(
                f"- In {report.series([report.game_name(g) for g in alike])}, every seed of "
                f"{method} played exactly the episodes of the fine-tuned network of its seed."
            )
    return "\n".join(lines)


def online_returns(
    records: dict[str, dict[str, dict]],
) -> tuple[dict[str, dict[str, list[float]]], dict[str, dict[str, list[float]]], pd.DataFrame]:
    """The ALE online runs' returns: ({agent: {variant: evaluation returns}}, {agent: {variant:
    returns of the last third of training's episodes}}, a table of their means a variant
    beside the default game's random and DQN scores). records: {agent: {variant: record}}."""
    evaluated = {
        agent: {name: r["scores"][r["config"]["games"][0]]["returns"] for name, r in by.items()}
        for agent, by in records.items()
    }
    late = {
        agent: {name: analysis.late_training_returns(r) for name, r in by.items()}
        for agent, by in records.items()
    }
    variants = list(next(iter(records.values())))
    table = pd.DataFrame(
        {
            (agent, column): {name: np.mean(returns[agent][name] or np.nan) for name in variants}
            for agent in records
            for column, returns in (("evaluation", evaluated), ("last third of training", late))
        }
    )
    references = scores.reference_scores()
    played = {n: r["config"]["games"][0] for n, r in next(iter(records.values())).items()}
    for column, value in (("random", "random"), ("DQN at 50M frames", "dqn_50m")):
        table[("default mode", column)] = [getattr(references[played[n]], value) for n in variants]
    return evaluated, late, table


def online_verdict(
    evaluated: dict,
    late: dict,
    new_games: list[str],
    frames: int,
    preset: str,
    scale: str,
    seed: int = 0,
) -> tuple[pd.DataFrame, str]:
    """(per variant, the pre-trained minus the scratch agent's mean return in evaluation and
    in the last third of training, with intervals and verdicts; the answer to "did
    pre-training help?" in words). evaluated, late: `online_returns`'; new_games: the
    variants of games the pre-trained network never played; frames: each run's frames."""
    pre, scratch = evaluated
    variants = list(evaluated[pre])
    comparisons = {
        column: {
            name: analysis.compare_episodes(returns[pre][name], returns[scratch][name], seed=seed)
            for name in variants
        }
        for column, returns in (("evaluation", evaluated), ("last third of training", late))
    }
    shown = pd.concat(
        {column: pd.DataFrame(c).T.infer_objects() for column, c in comparisons.items()}, axis=1
    ).round(1)
    (answer, by_evaluation), (_, by_late) = (analysis.tally(c) for c in comparisons.values())
    scoreless = [
        name
        for name in variants
        if analysis.scoreless(*(r[v][name] for r in (evaluated, late) for v in evaluated))
    ]
    return shown, (
        f"**Did pre-training help at the `{preset}` preset ({scale})?** "
        f"{report.hedged(answer, 1)}. After {frames:,} frames, beyond the episode noise, the "
        "pre-trained agent evaluates "
        f"{report.where(by_evaluation, {'above': 'above the scratch agent'}, 'mode')}; in the "
        "last third of training its episodes score "
        f"{report.where(by_late, {'above': 'higher', 'below': 'lower'}, 'mode')}. "
        + (
            "Neither agent scored a point in evaluation or in the last third of training in "
            f"{report.series(scoreless)}, so there the two cannot be told apart. "
            if scoreless
            else ""
        )
        + (
            f"{report.series(new_games)} "
            + ("is a new game" if len(new_games) == 1 else "are new games")
            + " to the pre-trained network at this preset, not a new mode of a game it learned."
            if new_games
            else ""
        )
    )


def online_notes(twin: studies.offline_finetuning.Transfer, seed: int = 0) -> str:
    """What the twin's records say beside chapter 8's verdicts, a Markdown list: the
    pre-trained agents against scratch game by game and against each other pre-training
    method, and the variants where two of them played the same episodes."""
    comparison = twin.comparisons[SCRATCH]
    by_game = held_out_against(twin.study, PRETRAINED, SCRATCH, seed)
    lines = [
        "- The pre-trained agents' IQM is "
        f"{report.relation(comparison['verdict'])} the scratch agents' (P(better) "
        f"{comparison['improvement'][0]:.2f}). Over the seeds, their mean return is "
        f"{report.where(by_game, noun='variant')}."
    ]
    for method in twin.methods:
        comparison = twin.comparisons[method]
        lines.append(
            f"- Against {method}: the pre-trained agents' IQM is "
            f"{report.relation(comparison['verdict'])} the agents on the frozen MAE encoder "
            f"(P(better) {comparison['improvement'][0]:.2f})."
        )
    same = games_played_alike(twin.study, PRETRAINED, SCRATCH)
    if same:
        lines.append(
            f"- In {report.series([report.game_name(g) for g in same])}, every pre-trained seed "
            "played exactly the evaluation episodes of the scratch agent of its seed."
        )
    for method in twin.methods:
        alike = games_played_alike(twin.study, PRETRAINED, method)
        if alike:
            lines.append(
                f"- In {report.series([report.game_name(g) for g in alike])}, every seed on the "
                f"frozen {method} encoder played exactly the evaluation episodes of the "
                "pre-trained agent of its seed."
            )
    return "\n".join(lines)


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
    or None; twin_offline, twin_online: `studies.offline_finetuning.compare`'s result for each
    chapter, or None; a method it lacks reads as not run."""
    offline_claim = studies.offline_finetuning.OFFLINE_FINETUNE_CLAIMS[SCRATCH]
    versus_methods = studies.offline_finetuning.OFFLINE_FINETUNE_CLAIMS["other pre-training"]
    online_claim = studies.online_finetuning.ONLINE_FINETUNE_CLAIM
    claims = [
        ("Offline fine-tuning: the pre-trained encoder above scratch on held-out games",
         "07_offline_finetuning", offline_claim, offline, twin_offline, SCRATCH),
        *((f"Offline fine-tuning: Scaled QL's pre-trained encoder above {method}",
           "07_offline_finetuning", versus_methods, None, twin_offline, method)
          for method in studies.offline_finetuning.PRETRAINING_METHODS),
        ("Online fine-tuning: pre-trained above scratch on new game modes",
         "08_online_finetuning", online_claim, online, twin_online, SCRATCH),
        *((f"Online fine-tuning: pre-trained Scaled QL above {method}",
           "08_online_finetuning", online_claim, None, twin_online, method)
          for method in studies.online_finetuning.ONLINE_PRETRAINING_METHODS),
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


def multi_game_rows(loaded: studies.multi_game.Loaded, seed: int = 0) -> list[Finding]:
    """`multi_game_findings` of what chapter 4's study read."""
    ale = None if loaded.ale is None else ale_multi_game(loaded.ale, seed)
    return multi_game_findings(loaded.comparisons, ale)


def scaling_rows(loaded: studies.scaling.Loaded, seed: int = 0) -> list[Finding]:
    """`scaling_findings` of what chapter 5's study read."""
    ale = None
    if loaded.ale is not None:
        ale = ale_scaling_sizes(loaded.points, list(loaded.ale.values()))
    return scaling_findings(ale, seed, loaded.comparisons)


def ablation_rows(loaded: studies.ablations.Loaded, seed: int = 0) -> list[Finding]:
    """`ablation_findings` of what chapter 6's study read."""
    return ablation_findings(loaded.ale, seed, loaded.comparisons)


def _ale_transfer(by_variant: dict[str, dict[str, dict]], tuned: str) -> tuple:
    """({game: returns} of the `tuned` variant, {game: returns} from scratch)."""
    return tuple(single_game_returns(by_variant[v]) for v in (tuned, SCRATCH))


def offline_rows(loaded: studies.offline_finetuning.Loaded, seed: int = 0) -> list[Finding]:
    """The offline fine-tuning chapter's rows of `transfer_findings`."""
    ale = None if loaded.ale is None else _ale_transfer(loaded.ale_by_variant(), FINE_TUNED)
    rows = transfer_findings(ale, None, seed, twin_offline=loaded.twin.comparisons)
    return [f for f in rows if f.chapter == studies.offline_finetuning.CHAPTER]


def online_rows(loaded: studies.online_finetuning.Loaded, seed: int = 0) -> list[Finding]:
    """The online fine-tuning chapter's rows of `transfer_findings`."""
    ale = None if loaded.ale is None else _ale_transfer(loaded.ale_by_variant(), PRETRAINED)
    rows = transfer_findings(None, ale, seed, twin_online=loaded.twin.comparisons)
    return [f for f in rows if f.chapter == studies.online_finetuning.CHAPTER]


def load_findings(preset: str, seed: int = 0) -> list[Finding]:
    """Every chapter's findings from the committed records of `preset` and of its twin, read by
    each chapter's study without training: what the intro's results-at-a-glance table shows."""
    rows = []
    for chapter, rows_of in (
        (studies.multi_game, multi_game_rows),
        (studies.scaling, scaling_rows),
        (studies.ablations, ablation_rows),
        (studies.offline_finetuning, offline_rows),
        (studies.online_finetuning, online_rows),
    ):
        rows += rows_of(chapter.load(preset, seed, train=False), seed)
    return rows
