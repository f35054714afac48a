"""Score tables, normalisation, and the aggregate statistics of Agarwal et al. (2021) via rliable.

human-normalised = (score - random) / (human - random); DQN-normalised = (score - random) /
(dqn_50m - random). Games without a reference (Pooyan has no human score) are left out of the
aggregates that need it, and `normalize` reports them.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import pathlib
import warnings

import numpy as np

SCORES_DIR = pathlib.Path(__file__).resolve().parents[1] / "data" / "scores"
SCORES_CSV = SCORES_DIR / "atari_scores.csv"
METRICS = ("IQM", "Median", "Mean")


@dataclasses.dataclass(frozen=True)
class ReferenceScore:
    random: float
    human: float | None
    dqn_50m: float
    split: str
    source: str


@functools.lru_cache(maxsize=1)
def reference_scores() -> dict[str, ReferenceScore]:
    """game -> ReferenceScore, from data/scores/atari_scores.csv."""
    with open(SCORES_CSV) as f:
        return {
            row["game"]: ReferenceScore(
                random=float(row["random"]),
                human=float(row["human"]) if row["human"] else None,
                dqn_50m=float(row["dqn_50m"]),
                split=row["split"],
                source=row["random_human_source"],
            )
            for row in csv.DictReader(f)
        }


@functools.lru_cache(maxsize=1)
def minatar_published_dqn() -> dict[str, list[tuple[int, float]]]:
    """game -> [(frames, return)]: the MinAtar paper's DQN learning curves, read by eye from its
    figure (data/scores/minatar_published_dqn.csv; its README says how)."""
    curves: dict[str, list[tuple[int, float]]] = {}
    with open(SCORES_DIR / "minatar_published_dqn.csv") as f:
        for row in csv.DictReader(f):
            curves.setdefault(row["game"], []).append((int(row["frames"]), float(row["return"])))
    return curves


def normalized_score(game: str, score: float, kind: str = "human") -> float | None:
    """`score` of `game` normalised by the human or DQN-50M reference (None if it is missing,
    as for the MinAtar twin's games, which have no Atari reference scores)."""
    if kind not in ("human", "dqn"):
        raise ValueError(f"unknown normalisation {kind!r}; use human or dqn")
    ref = reference_scores().get(game)
    top = None if ref is None else ref.human if kind == "human" else ref.dqn_50m
    if top is None:
        return None
    return (score - ref.random) / (top - ref.random)


def normalize(
    returns: dict[str, list[float]], kind: str = "human"
) -> tuple[dict[str, float], list[str]]:
    """Per-game normalised mean return, and the games left out for want of a reference."""
    scores, missing = {}, []
    for game, game_returns in returns.items():
        value = normalized_score(game, float(np.mean(game_returns)), kind)
        if value is None:
            missing.append(game)
        else:
            scores[game] = value
    return scores, missing


@contextlib.contextmanager
def _global_numpy_seed(seed: int):
    """Seeds numpy's global generator for the block and restores its state after.

    rliable's `StratifiedBootstrap.update_indices` draws its resamples from `np.random.choice`,
    not from the generator it is given, so only the global state makes its intervals
    reproducible.
    """
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def iqm(scores: np.ndarray) -> float:
    """The interquartile mean of all runs x games: the mean of what is left once the lowest and
    the highest floor(n / 4) of the n scores are dropped, as rliable's `aggregate_iqm` (scipy's
    25 % trimmed mean) defines it. In numpy alone: a bootstrap calls it 2,000 times per interval,
    and scipy's per-call overhead made the book's statistics take minutes."""
    flat = np.sort(np.ravel(np.asarray(scores, float)))
    cut = int(0.25 * flat.size)
    return float(np.mean(flat[cut : flat.size - cut]))


def improvement_probability(x: np.ndarray, y: np.ndarray) -> float:
    """P(a run of X scores above a run of Y on a game, a tie counting half), averaged over
    games: rliable's `probability_of_improvement` (its Mann-Whitney U / (runs_x * runs_y) per
    game), by comparing every pair at once. x: (runs_x, games), y: (runs_y, games)."""
    x = np.asarray(x, float)[:, None, :]
    y = np.asarray(y, float)[None, :, :]
    per_game = np.mean((x > y) + 0.5 * (x == y), axis=(0, 1))
    return float(np.mean(per_game))


def aggregate(score_dict: dict[str, np.ndarray], reps: int = 2000, seed: int = 0) -> dict:
    """{method: {metric: (point, low, high)}} with 95 % stratified-bootstrap intervals.

    score_dict: method -> (runs, games) normalised scores. IQM, median (of the per-game means)
    and mean, as the paper reports them, with rliable's bootstrap (`get_interval_estimates`);
    `seed` fixes the intervals.
    """
    # rliable imports arch and scipy's statistics: lazily, so that importing scores stays light
    from rliable import library as rly

    def all_three(scores):
        per_game = np.mean(scores, axis=0)
        return np.array([iqm(scores), np.median(per_game), np.mean(per_game)])

    with warnings.catch_warnings(), _global_numpy_seed(seed):
        # rliable hands our RandomState to arch, which now deprecates RandomState; rliable
        # takes no Generator
        warnings.filterwarnings("ignore", "random_state is deprecated", FutureWarning)
        points, intervals = rly.get_interval_estimates(
            {m: np.asarray(s, float) for m, s in score_dict.items()},
            all_three,
            reps=reps,
            random_state=np.random.RandomState(seed),
        )
    return {
        method: {
            metric: (float(points[method][i]), *map(float, intervals[method][:, i]))
            for i, metric in enumerate(METRICS)
        }
        for method in score_dict
    }


def probability_of_improvement(
    x: np.ndarray, y: np.ndarray, reps: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """(point, low, high): rliable's probability that a run of X scores above a run of Y on a
    game, averaged over games, with its 95 % stratified-bootstrap interval (runs of X and of Y
    resampled independently within each game). x: (runs_x, games), y: (runs_y, games)."""
    from rliable import library as rly  # lazily, as in `aggregate`

    with warnings.catch_warnings(), _global_numpy_seed(seed):
        warnings.filterwarnings("ignore", "random_state is deprecated", FutureWarning)
        points, intervals = rly.get_interval_estimates(
            {"x,y": [np.asarray(x, float), np.asarray(y, float)]},
            improvement_probability,
            reps=reps,
            random_state=np.random.RandomState(seed),
        )
    return float(points["x,y"]), *(float(v) for v in np.ravel(intervals["x,y"]))


def performance_profiles(
    score_dict: dict[str, np.ndarray], taus: np.ndarray, reps: int = 2000, seed: int = 0
):
    """(profiles, intervals): fraction of runs scoring above each tau, per method (rliable)."""
    from rliable import library as rly  # lazily, as in `aggregate`

    with _global_numpy_seed(seed):
        return rly.create_performance_profile(
            {m: np.asarray(s, float) for m, s in score_dict.items()}, taus, reps=reps
        )


def iqm_slope(
    sizes: list[float], by_size: list[np.ndarray], reps: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """(point, low, high): the least-squares slope of the IQM against log10(size), in IQM per
    tenfold size, with its 95 % stratified-bootstrap interval (rliable's independent bootstrap:
    each size's runs resampled within each game, apart from the other sizes').

    sizes: (k,) positive, e.g. parameter counts; by_size: k arrays (runs_i, games) of
    normalised scores, the same games in each.
    """
    from rliable import library as rly  # lazily, as in `aggregate`

    x = np.log10(np.asarray(sizes, float))
    if x.size != len(by_size) or np.unique(x).size < 2:
        raise ValueError(
            f"a slope needs one score array per size and at least two different sizes; got "
            f"sizes {list(sizes)} for {len(by_size)} arrays"
        )
    centred = x - x.mean()

    def slope(*scores: np.ndarray) -> np.ndarray:
        iqms = np.array([iqm(s) for s in scores])
        return np.array([centred @ iqms / (centred @ centred)])

    with warnings.catch_warnings(), _global_numpy_seed(seed):
        warnings.filterwarnings("ignore", "random_state is deprecated", FutureWarning)
        points, intervals = rly.get_interval_estimates(
            {"slope": [np.asarray(s, float) for s in by_size]},
            slope,
            reps=reps,
            random_state=np.random.RandomState(seed),
        )
    return float(points["slope"][0]), *(float(v) for v in np.ravel(intervals["slope"]))
