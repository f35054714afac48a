"""What the chapters print beside their figures: captions that name the records behind them,
intervals as text, the list of runs a chapter loaded and the commands that made them."""

from __future__ import annotations

from collections.abc import Callable

from scaledql import records as run_records


def caption(text: str, records: list[dict]) -> str:
    """`text` followed by the scale, preset, seeds, games and record files behind a figure;
    the records by folder, each once: `data/results/twin/: 0091e57a635a, 1d617e46b105 (.json)`."""
    first = records[0]
    seeds = sorted({r["config"]["seed"] for r in records})
    games = ", ".join(dict.fromkeys(g for r in records for g in r["config"]["games"]))
    by_preset: dict[str, set[str]] = {}
    for r in records:
        by_preset.setdefault(r["config"]["name"], set()).add(r["config_hash"])
    folders = "; ".join(
        f"data/results/{preset}/: {', '.join(sorted(hashes))}"
        for preset, hashes in sorted(by_preset.items())
    )
    return (
        f"{text} Preset `{first['config']['name']}` ({first['scale']}); "
        f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}; games: {games}. "
        f"Run records (.json) in {folders}."
    )


def seed_intervals(records: list[dict], strata: str) -> str:
    """How a figure's intervals over training seeds x `strata` (e.g. "games") read, for a caption
    to go on from: rliable's stratified bootstrap resamples the seeds within each stratum, so one
    seed gives intervals of no width, and the caption says so rather than promising intervals."""
    if len({r["config"]["seed"] for r in records}) > 1:
        return f"with 95 % stratified-bootstrap intervals over training seeds x {strata} (rliable)"
    return (
        "from one training seed, so without intervals (rliable's stratified bootstrap resamples "
        f"the seeds within each of the {strata})"
    )


def study_status(configs_by_key: dict, preset: str) -> str:
    """What a chapter's seeded study reads (configs_by_key as `records.whole_seeds` takes it):
    how many of its runs are recorded, how many seeds are whole, and the command that makes the
    rest."""
    progress = run_records.study_progress(configs_by_key)
    lines = [
        f"{progress['recorded']} of {progress['runs']} runs recorded at preset {preset}",
        f"{progress['whole_seeds']} of the {progress['planned_seeds']} planned seeds whole",
    ]
    if not progress["whole_seeds"]:
        lines[1] = "No seed is whole yet: the sections below wait for one"
    elif progress["whole_seeds"] < progress["planned_seeds"]:
        lines[1] += "; the sections below read those"
    if progress["recorded"] < progress["runs"]:
        lines.append(f"(`scaledql runs --preset {preset} --train` makes the rest)")
    return "\n".join(lines)  # short lines: a chapter shows the text as code, unwrapped


def methods_status(starts: dict, runs: dict[tuple[str, str], list], preset: str) -> str:
    """`study_status` of each pre-training method of a study of its own, method by method, as
    the chapter reads each once it has a whole seed. starts: {(game, method) or method:
    [pre-training run of each seed]}; runs: {(game, method): [run from it, each seed]}."""

    def method_of(key) -> str:
        return key[-1] if isinstance(key, tuple) else key

    blocks = []
    for method in dict.fromkeys(method for _, method in runs):
        study = {("pre-training", k): c for k, c in starts.items() if method_of(k) == method}
        study |= {k: c for k, c in runs.items() if k[1] == method}
        blocks.append(f"{method}: {study_status(study, preset)}")
    return "\n".join(blocks)


def interval(estimate: tuple[float, float, float], unit: str = "", signed: bool = False) -> str:
    """A (point, low, high) fraction as percentages: `12.3 [10.1, 14.0]`, with `unit` (e.g. " %")
    after the point and signs when `signed`. An interval of no width (one seed, or one value a
    game, has nothing to resample) is no interval: the point alone."""
    point, low, high = (f"{100 * v:{'+' if signed else ''}.1f}" for v in estimate)
    if estimate[1] == estimate[2]:
        return f"{point}{unit}"
    return f"{point}{unit} [{low}, {high}]"


def relation(verdict: str) -> str:
    """A verdict as it reads before "X's": "above", "below" or "level with"."""
    return "level with" if verdict == "level" else verdict


def command_detail(record: dict) -> str:
    """The command that reproduces a record, as `print_runs` appends it."""
    return f"  {record['provenance']['command']}"


def print_runs(runs: dict[str, dict], detail: Callable[[dict], str] = command_detail) -> None:
    """One line per named record: where it lies under data/results, then `detail(record)`."""
    for name, record in runs.items():
        print(f"{name}: {run_records.record_name(record)}{detail(record)}")
