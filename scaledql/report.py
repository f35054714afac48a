"""What the chapters print beside their figures: captions that name the records behind them,
intervals as text, the list of runs a chapter loaded and the commands that made them."""

from __future__ import annotations

from collections.abc import Callable

from scaledql import records as run_records


def caption(text: str, records: list[dict]) -> str:
    """`text` followed by the scale, preset, seeds, games and record files behind a figure."""
    first = records[0]
    seeds = sorted({r["config"]["seed"] for r in records})
    games = ", ".join(dict.fromkeys(g for r in records for g in r["config"]["games"]))
    names = ", ".join(sorted({run_records.record_name(r) for r in records}))
    return (
        f"{text} Preset `{first['config']['name']}` ({first['scale']}); "
        f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}; games: {games}. "
        f"Run records in data/results: {names}."
    )


def interval(estimate: tuple[float, float, float], unit: str = "") -> str:
    """A (point, low, high) fraction as percentages: `12.3 [10.1, 14.0]`, with `unit` (e.g. " %")
    after the point."""
    point, low, high = (100 * v for v in estimate)
    return f"{point:.1f}{unit} [{low:.1f}, {high:.1f}]"


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
