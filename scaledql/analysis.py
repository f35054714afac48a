"""Every verdict the book states, computed from run records and tested on hand-made ones.

One vocabulary throughout: a quantity lies *above*, *below* or *level* with another, and only
where the noise allows: two aggregates when their 95 % bootstrap intervals do not overlap
(`compare`), two runs of one game when the bootstrap interval of the difference of their
episode means excludes 0 (`compare_episodes`). Trends, agreement with the paper and "did it
help?" answers are built from those two.
"""

from __future__ import annotations

import warnings

import numpy as np

from scaledql import scores

VERDICTS = ("above", "below", "level")
# How a trend over sizes reads: the largest network's aggregate against the smallest's.
TREND_WORDS = {"above": "rises", "below": "falls", "level": "is flat", "not above": "does not rise"}


def normalized_episodes(records: list[dict], kind: str = "human") -> tuple[list[str], np.ndarray]:
    """The games with a `kind` reference score, and their normalised returns, (episodes, games).

    Each evaluation episode is one row; the records (e.g. one per seed) are stacked. Intervals
    computed over these rows show evaluation noise, and training-seed noise only when several
    seeds' records are given.
    """
    games = [g for g in records[0]["scores"] if scores.normalized_score(g, 0.0, kind) is not None]
    rows = []
    for record in records:
        table = [
            [scores.normalized_score(g, r, kind) for r in record["scores"][g]["returns"]]
            for g in games
        ]
        rows.append(np.array(table).T)
    return games, np.concatenate(rows, axis=0)


def estimates(records: list[dict], kind: str = "human", seed: int = 0) -> dict:
    """{metric: (point, low, high)} of the records' normalised episodes (`normalized_episodes`):
    IQM, median and mean with 95 % bootstrap intervals, as `scores.aggregate` gives them."""
    _, matrix = normalized_episodes(records, kind)
    return scores.aggregate({"run": matrix}, seed=seed)["run"]


def reference_normalized(
    records: list[dict], references: dict[str, tuple[float, float]]
) -> tuple[list[str], np.ndarray]:
    """The games of `references` and each record's mean return on them, normalised per game as
    (mean - low) / (high - low) with (low, high) = references[game]: (runs, games), one row per
    record (a training seed), as rliable takes its runs. The twin's references are random play
    (0) and the final online DQN of the data's run (1)."""
    games = list(references)
    rows = [
        [(r["scores"][g]["mean_return"] - references[g][0]) / (references[g][1] - references[g][0])
         for g in games]
        for r in records
    ]  # fmt: skip
    return games, np.array(rows, float).reshape(len(records), len(games))


def seed_comparison(x: np.ndarray, y: np.ndarray, seed: int = 0, reference: bool = False) -> dict:
    """Method X against method Y over training seeds and games, as rliable compares them.

    x: (runs_x, games), y: (runs_y, games) normalised scores. Returns {"x", "y": {metric:
    (point, low, high)} (IQM, median, mean with 95 % stratified-bootstrap intervals),
    "improvement": (point, low, high) of the probability that X beats Y on a game, "verdict":
    `compare` of the two IQMs, "runs": the seeds of each side that has seeds, (runs_x, runs_y),
    or (runs_x,) against a reference}. With one run of a method the
    bootstrap over runs has nothing to resample, so its intervals have no width and the
    verdict is "level": one seed cannot tell a difference from noise. reference: Y is one
    fixed point per game (the behaviour data), not a method's seeds, so only X needs two.
    """
    estimates = scores.aggregate({"x": x, "y": y}, seed=seed)
    fewest = len(x) if reference else min(len(x), len(y))
    verdict = compare(estimates["x"]["IQM"], estimates["y"]["IQM"]) if fewest > 1 else "level"
    return {
        **estimates,
        "runs": (len(x),) if reference else (len(x), len(y)),
        "improvement": scores.probability_of_improvement(x, y, seed=seed),
        "verdict": verdict,
    }


def compare(a: tuple[float, float, float], b: tuple[float, float, float]) -> str:
    """Where estimate a lies against estimate b, each a (point, low, high) as `estimates` gives
    it: "above" or "below" only when the two 95 % intervals do not overlap, a strict test (for
    independent estimates it errs well under 5 % of the time), else "level"."""
    if a[1] > b[2]:
        return "above"
    if a[2] < b[1]:
        return "below"
    return "level"


def compare_episodes(
    a: np.ndarray, b: np.ndarray, reps: int = 2000, seed: int = 0, confidence: float = 0.95
) -> dict:
    """Whether mean(a) is above, below or level with mean(b), given their episode-to-episode noise.

    a: (n,), b: (m,) returns of two independent runs' episodes. Returns {difference, low, high,
    verdict}: mean(a) - mean(b), the percentile-bootstrap interval of that difference (each
    sample resampled on its own), and "above" if the interval lies above 0, "below" if below,
    else "level". With fewer than 2 episodes on a side the noise cannot be measured: the
    interval is NaN and the verdict "level".
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    difference = float(a.mean() - b.mean())
    if min(a.size, b.size) < 2:
        return {"difference": difference, "low": np.nan, "high": np.nan, "verdict": "level"}
    rng = np.random.default_rng(seed)
    resampled = rng.choice(a, (reps, a.size)).mean(axis=1) - rng.choice(b, (reps, b.size)).mean(
        axis=1
    )
    tail = 100 * (1 - confidence) / 2
    low, high = (float(v) for v in np.percentile(resampled, [tail, 100 - tail]))
    verdict = "above" if low > 0 else "below" if high < 0 else "level"
    return {"difference": difference, "low": low, "high": high, "verdict": verdict}


def compare_to_point(
    values: np.ndarray, point: float, reps: int = 2000, seed: int = 0, confidence: float = 0.95
) -> dict:
    """Whether mean(values) is above, below or level with a reference `point` that has no
    noise of its own (a published number): {mean, low, high, verdict}, the percentile-bootstrap
    interval of the mean and "above" / "below" when it excludes the point."""
    values = np.asarray(values, float)
    means = np.random.default_rng(seed).choice(values, (reps, values.size)).mean(axis=1)
    tail = 100 * (1 - confidence) / 2
    low, high = (float(v) for v in np.percentile(means, [tail, 100 - tail]))
    verdict = "above" if low > point else "below" if high < point else "level"
    return {"mean": float(values.mean()), "low": low, "high": high, "verdict": verdict}


def tally(comparisons: dict[str, dict]) -> tuple[str, dict[str, list[str]]]:
    """(answer, {verdict: names}) for `compare_episodes` results keyed by name: the answer to
    "did a beat b?" is "Yes" when a is above somewhere and below nowhere, "No" when the reverse,
    "Mixed" when both, and "Not measurably" when every comparison is level."""
    names = {v: [n for n, c in comparisons.items() if c["verdict"] == v] for v in VERDICTS}
    above, below = bool(names["above"]), bool(names["below"])
    answer = ("Mixed" if below else "Yes") if above else "No" if below else "Not measurably"
    return answer, names


def trend(by_size: list[tuple[float, tuple[float, float, float]]]) -> str:
    """The verdict of the largest size's estimate against the smallest's. by_size: (size,
    (point, low, high)) pairs in any order. `TREND_WORDS` says it as "rises", "falls" or "is
    flat"."""
    ordered = sorted(by_size, key=lambda pair: pair[0])
    return compare(ordered[-1][1], ordered[0][1])


def slope_trend(slope: tuple[float, float, float], fewest_runs: int) -> str:
    """The direction of a fitted slope (point, low, high), as `scores.iqm_slope` gives it:
    "above" (it rises) when its interval lies above 0, "below" when under 0, else "level".
    With fewer than 2 runs at some size the bootstrap has nothing to resample there, so
    the interval shows no training-seed noise and the verdict is "level"."""
    if fewest_runs < 2:
        return "level"
    return "above" if slope[1] > 0 else "below" if slope[2] < 0 else "level"


def trend_breaks(by_size: list[tuple[float, str, float]]) -> list[tuple[str, float]]:
    """The sizes between the two ends whose point lies outside the range of the ends' points.
    by_size: (size, label, point) triples in any order; returns (label, point) pairs by size."""
    ordered = sorted(by_size, key=lambda triple: triple[0])
    low, high = sorted((ordered[0][2], ordered[-1][2]))
    return [(label, point) for _, label, point in ordered[1:-1] if not low <= point <= high]


def agreement(ours: str, paper: str) -> str:
    """ "yes", "no" or "within noise": whether our verdict (above, below or level) agrees with
    the paper's, which is "above" or "below" (the paper finds a difference: level neither
    confirms nor refutes it) or "not above" / "not below" (the paper finds none in that
    direction: level agrees)."""
    if paper in ("above", "below"):
        return "yes" if ours == paper else "within noise" if ours == "level" else "no"
    if paper in ("not above", "not below"):
        return "no" if ours == paper.removeprefix("not ") else "yes"
    raise ValueError(f"unknown paper verdict {paper!r}; use above, below, not above or not below")


def games_moved(record: dict, baseline: dict, seed: int = 0) -> dict[str, list[str]]:
    """{verdict: games}: per game of `baseline`, whether `record`'s mean return lies above,
    below or level with the baseline's beyond their episode noise (`compare_episodes`)."""
    comparisons = {
        game: compare_episodes(record["scores"][game]["returns"], base["returns"], seed=seed)
        for game, base in baseline["scores"].items()
    }
    return tally(comparisons)[1]


def seed_returns(runs: list[dict]) -> dict[str, list[float]]:
    """{game: [mean evaluation return of each run]} of a method's seeds."""
    return {g: [r["scores"][g]["mean_return"] for r in runs] for g in runs[0]["scores"]}


def games_above(record: dict, reference: dict[str, float]) -> list[str]:
    """The games where the record's mean return is above `reference[game]` (point values)."""
    return [g for g, s in record["scores"].items() if s["mean_return"] > reference[g]]


def games_without_signal(
    records: list[dict], behaviour: dict[str, float], random: dict[str, float]
) -> list[str]:
    """The games where no record's mean return beats random play and the behaviour data is
    within one point of it: no reward signal to learn from."""
    return [
        game
        for game in records[0]["scores"]
        if max(r["scores"][game]["mean_return"] for r in records) <= random[game] + 1e-9
        and behaviour[game] <= random[game] + 1
    ]


def late_training_returns(record: dict, parts: int = 3) -> list[float]:
    """Returns of the last 1/`parts` of the episodes an online run played while learning (at
    least one episode when it played any): by default, the last third."""
    curve = record["learning_curve"]
    if not curve:
        return []
    return [row["return"] for row in curve[len(curve) - max(1, len(curve) // parts) :]]


def seed_learning_curve(curves: list[list[dict]], bins: int = 20) -> dict:
    """The learning curves of an online run's seeds (rows with `frames` and `return`, one row
    per episode) on one axis: the frames played cut into `bins` equal stretches up to the
    longest run's end, each seed's mean episode return in each stretch (NaN where no episode
    of that seed ended), and over the seeds their mean, min and max.
    Returns {frames: (bins,) stretch ends, per_seed: (seeds, bins), mean, low, high: (bins,)}."""
    end = max((row["frames"] for curve in curves for row in curve), default=0)
    edges = np.linspace(0, end, bins + 1)
    per_seed = np.full((len(curves), bins), np.nan)
    for i, curve in enumerate(curves):
        frames = np.array([row["frames"] for row in curve], float)
        returns = np.array([row["return"] for row in curve], float)
        which = np.clip(np.searchsorted(edges, frames, side="left") - 1, 0, bins - 1)
        for b in np.unique(which):
            per_seed[i, b] = returns[which == b].mean()
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a stretch no seed ended an episode in
        summary = {k: f(per_seed, axis=0) for k, f in
                   (("mean", np.nanmean), ("low", np.nanmin), ("high", np.nanmax))}  # fmt: skip
    return {"frames": edges[1:], "per_seed": per_seed, **summary}


def scoreless(*returns: list[float]) -> bool:
    """Whether every return in every list is 0: nothing to tell two agents apart by."""
    return not any(r for values in returns for r in values)


def relative_gain(new: float, old: float) -> float:
    """(new - old) / |old|, NaN when old is 0."""
    return (new - old) / abs(old) if old else float("nan")


def behaviour_against_published(summary: dict, published: list[tuple[int, float]]) -> dict:
    """A twin collection's final policy against the MinAtar paper's DQN at the same number of
    frames: {final (mean, low, high), published, verdict} ("above", "below" or "level", from
    `compare_to_point` on the final evaluation episodes), plus the random policy's mean."""
    at = dict(published)
    reference = at.get(summary["frames"])
    final = compare_to_point(summary["final_returns"], reference if reference is not None else 0)
    return {
        "final": (final["mean"], final["low"], final["high"]),
        "published": reference,
        "verdict": final["verdict"] if reference is not None else None,
        "random": float(np.mean(summary["random_returns"])),
    }
