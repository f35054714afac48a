"""What the chapters print beside their figures: captions that name the records behind them,
intervals as text, the list of runs a chapter loaded and the commands that made them."""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Callable

import pandas as pd

from scaledql import atomic
from scaledql import records as run_records

# Set by `scaledql book` while a chapter executes: the JSON file where each caption registers
# the records behind its figure, for the book's "Runs behind this book" page.
PROVENANCE_ENV = "SCALEDQL_PROVENANCE"
RUNS_PAGE = "runs"  # book/_executed/runs.md, which `scaledql book` writes from the registrations
# How many monospace characters fit the book's column at the theme's width (measured on the
# page shots: 74 fit, 80 wrap): printed output and visible code stay within it.
PAGE_WIDTH = 76
MAX_NAMED_RECORDS = 3  # a caption names this many records at most; the runs page lists the rest

Records = list[dict] | dict[str, dict | list[dict]]


def labelled(records: Records) -> list[tuple[str, dict]]:
    """(label, record) pairs: a dict's keys label its records (a list under a key: its seeds);
    a record of a plain list is labelled by the settings its command changes."""
    if isinstance(records, dict):
        return [
            (label, r)
            for label, rs in records.items()
            for r in (rs if isinstance(rs, list) else [rs])
        ]
    return [(settings_label(r), r) for r in records]


def settings_label(record: dict) -> str:
    """What a record's command changes besides its seed: `loss.kind=bc, games=minatar/Asterix`."""
    words = record["provenance"].get("command", "").split()
    changed = [
        w
        for k, w in zip(words, words[1:], strict=False)
        if k == "--set" and not w.startswith("seed=")
    ]
    return ", ".join(changed) or f"the {record['config']['name']} preset"


def numbers(values: list[int]) -> str:
    """Sorted integers as ranges: [0, 1, 2, 4] -> "0-2, 4"."""
    spans: list[list[int]] = []
    for v in sorted(set(values)):
        if spans and v == spans[-1][-1] + 1:
            spans[-1].append(v)
        else:
            spans.append([v])
    return ", ".join(f"{s[0]}-{s[-1]}" if len(s) > 2 else ", ".join(map(str, s)) for s in spans)


def caption(text: str, records: Records, study: str = "") -> str:
    """`text` followed by where its numbers come from: the study, the preset and its scale, the
    training seeds, the games and the number of run records, which the book's "Runs behind this
    book" page lists (labels, seeds, records, commands); at most three records are named here.

    records: the records behind the figure, as a list or {label: record or [record of each
    seed]}; study: the study they belong to, e.g. "the twin's multi-game study"."""
    pairs = labelled(records)
    recs = list({(run_records.record_name(r), r["config"]["seed"]): r for _, r in pairs}.values())
    first = recs[0]
    seeds = sorted({r["config"]["seed"] for r in recs})
    games = ", ".join(dict.fromkeys(game_name(g) for r in recs for g in r["config"]["games"]))
    presets = ", ".join(f"`{p}`" for p in dict.fromkeys(r["config"]["name"] for r in recs))
    link = register(text, study, pairs)
    if len(recs) <= MAX_NAMED_RECORDS:
        which = f"Run record{'s' if len(recs) > 1 else ''} " + ", ".join(
            f"`{run_records.record_name(r)}`" for r in recs
        )
    else:
        which = f"{len(recs)} run records"
    where = (
        f"listed with their commands in {{ref}}`Runs behind this book <{link}>`"
        if link
        else f"`scaledql runs --preset {first['config']['name']}` lists them with their commands"
    )
    lead = f"{study[:1].upper()}{study[1:]}: preset" if study else "Preset"
    plural = "s" if len(seeds) > 1 else ""
    return (
        f"{text} {lead}{'s' if ',' in presets else ''} {presets} ({first['scale']}); "
        f"seed{plural} {numbers(seeds)}; games: {games}. {which}, {where}."
    )


def game_name(game: str) -> str:
    """A game as prose names it: `minatar/Asterix` -> Asterix."""
    return game.removeprefix("minatar/")


def register(text: str, study: str, pairs: list[tuple[str, dict]]) -> str | None:
    """Adds a figure's records to the file named by $SCALEDQL_PROVENANCE (a chapter executed by
    `scaledql book`) and returns the label of its entry on the runs page; None elsewhere."""
    path = os.environ.get(PROVENANCE_ENV)
    if not path:
        return None
    path = pathlib.Path(path)
    figures = json.loads(path.read_text()) if path.exists() else []
    label = f"{RUNS_PAGE}-{path.name.split('.')[0]}-{len(figures) + 1}"
    rows = [
        {
            "label": name,
            "seed": r["config"]["seed"],
            "record": run_records.record_name(r),
            "command": r["provenance"]["command"],
        }
        for name, r in pairs
    ]
    figures.append({"label": label, "caption": text, "study": study, "rows": rows})
    atomic.write_json(path, figures)
    return label


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


def interval(estimate: tuple[float, float, float], unit: str = "", signed: bool = False) -> str:
    """A (point, low, high) fraction as percentages: `12.3 [10.1, 14.0]`, with `unit` (e.g. " %")
    after the point and signs when `signed`. An interval of no width (one seed, or one value a
    game, has nothing to resample) is no interval: the point alone."""
    point, low, high = (f"{100 * v:{'+' if signed else ''}.1f}" for v in estimate)
    if estimate[1] == estimate[2]:
        return f"{point}{unit}"
    return f"{point}{unit} [{low}, {high}]"


def interval_table(estimates: dict[str, dict[str, tuple[float, float, float]]]) -> pd.DataFrame:
    """One row a method, one column a metric: `interval` of each estimate (in %)."""
    return pd.DataFrame(
        {
            method: {f"{metric} (%)": interval(value) for metric, value in values.items()}
            for method, values in estimates.items()
        }
    ).T


def capitalised(text: str) -> str:
    """The text with its first letter a capital (a dataset's name opening a caption)."""
    return text[:1].upper() + text[1:]


def relation(verdict: str) -> str:
    """A verdict as it reads before "X's": "above", "below" or "level with"."""
    return "level with" if verdict == "level" else verdict


def command_detail(record: dict) -> str:
    """The command that reproduces a record, as `print_runs` appends it: on the lines below,
    indented and folded to the page's width."""
    folded = fold(record["provenance"]["command"], width=PAGE_WIDTH - 2)
    return "\n" + "\n".join(f"  {line}" for line in folded.splitlines())


def print_runs(runs: dict[str, dict], detail: Callable[[dict], str] = command_detail) -> None:
    """One line per named record: where it lies under data/results, then `detail(record)`."""
    for name, record in runs.items():
        print(f"{name}: {run_records.record_name(record)}{detail(record)}")


NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def count_words(n: int, noun: str) -> str:
    """`count_words(5, "game")` -> "five games"."""
    word = NUMBER_WORDS[n] if n < len(NUMBER_WORDS) else f"{n:,}"
    return f"{word} {noun}{'' if n == 1 else 's'}"


def series(names: list[str]) -> str:
    """["A", "B", "C"] -> "A, B and C"."""
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def where(
    by_verdict: dict[str, list[str]], words: dict[str, str] | None = None, noun="game"
) -> str:
    """Per-game verdicts as a person says them: "level in all five games", "above in Asterix
    and level in the other four", "above in Asterix, below in Breakout and level in Freeway and
    Seaquest". by_verdict: {"above" | "below" | "level": [game]}; words: how each verdict reads
    (default: itself, e.g. {"above": "ahead"}). Empty verdicts are left out."""
    words = {"above": "above", "below": "below", "level": "level", **(words or {})}
    groups = [(words[v], [game_name(g) for g in gs]) for v, gs in by_verdict.items() if gs]
    total = sum(len(gs) for _, gs in groups)
    if not groups:
        return f"in no {noun}"
    if len(groups) == 1:
        word, games = groups[0]
        if total == 1:
            return f"{word} in {games[0]}"
        return (
            f"{word} in {'both ' + noun + 's' if total == 2 else 'all ' + count_words(total, noun)}"
        )
    parts = [f"{word} in {series(games)}" for word, games in groups[:-1]]
    word, games = groups[-1]
    if len(games) > 2:  # the rest, by number: the games named so far make the others clear
        parts.append(f"{word} in the other {count_words(len(games), noun).rsplit(' ', 1)[0]}")
    else:
        parts.append(f"{word} in {series(games)}")
    return series(parts)


def fold(command: str, width: int = PAGE_WIDTH, indent: str = "    ") -> str:
    """A shell command folded with backslashes between its options (`--set key=value` stays
    on one line) so that no line is wider than `width` where an option fits."""
    words = command.split(" ")
    options = [words[0]]
    for word in words[1:]:
        if word.startswith("-") or not options[-1].startswith("-") or " " in options[-1]:
            options.append(word)
        else:
            options[-1] += " " + word
    lines = [options[0]]
    for option in options[1:]:
        if len(lines[-1]) + len(option) + 3 > width:
            lines[-1] += " \\"
            lines.append(indent + option)
        else:
            lines[-1] += " " + option
    return "\n".join(lines)


def hedged(answer: str, runs_each: int) -> str:
    """An answer of `analysis.tally` ("Yes", "No", "Mixed", "Not measurably") with the weight
    that its evidence carries, in the same sentence: one run a side is weak evidence."""
    if runs_each == 1 and answer != "Not measurably":
        return f"{answer}, in one run of each: weak evidence either way"
    return answer


def near_zero_note(ours: list[float], others: list[float], what: str = "our values") -> str:
    """A caption's warning where `ours` (in the axis's units) all sit within 5 % of the axis's
    reach, which `others` (e.g. the paper's numbers on the same axis) set: they then look like
    zero, and the sentence says what they are. Empty when they are visible."""
    if not ours:
        return ""
    reach = max(abs(v) for v in [*ours, *others])
    if max(abs(v) for v in ours) > 0.05 * reach:
        return ""
    low, high = min(ours), max(ours)
    return (
        f" On this axis, which reaches the paper's numbers, {what} (from {low:.1f} to "
        f"{high:.1f}) sit on zero; the table gives them."
    )


def zero_bars_note(values: dict[str, dict[str, float]], noun: str = "games") -> str:
    """A caption's note on the bars of a grouped bar chart (values[series][group]) that are
    exactly 0 and so are not drawn: which they are, so that a reader does not look for them."""
    zeros = {
        group: [name for name, by_group in values.items() if by_group.get(group) == 0]
        for group in dict.fromkeys(g for by_group in values.values() for g in by_group)
    }
    zeros = {group: names for group, names in zeros.items() if names}
    if not zeros:
        return ""
    every = len(values)
    parts = [
        f"{group} ({'every agent' if len(names) == every else series(names)})"
        for group, names in zeros.items()
    ]
    return f" The bars missing are exactly 0 in these {noun}: {series(parts)}."


def how_many(names: list[str], total: int, noun: str = "game") -> str:
    """ "in two of five games (Asterix and Pong)", "in none of the five games", "in all five"."""
    if not names:
        return f"in none of the {count_words(total, noun)}"
    if len(names) == total:
        return f"in all {count_words(total, noun)}"
    listed = series([game_name(n) for n in names])
    some = count_words(len(names), noun).rsplit(" ", 1)[0]
    return f"in {some} of {count_words(total, noun)} ({listed})"
