"""The noise-aware comparisons behind the chapters' verdicts on direction and on pre-training."""

import numpy as np
import pytest

from scaledql import scores


def test_compare_means_interval_matches_the_normal_approximation():
    rng = np.random.default_rng(3)
    a, b = rng.normal(5.0, 2.0, 400), rng.normal(4.5, 1.0, 300)
    ours = scores.compare_means(a, b, reps=4000, seed=1)
    # independent reference: the large-sample (Welch) interval, with the bootstrap's ddof=0
    half = 1.959964 * np.sqrt(a.var() / a.size + b.var() / b.size)
    assert ours["difference"] == pytest.approx(a.mean() - b.mean())
    assert ours["low"] == pytest.approx(ours["difference"] - half, abs=0.05 * half)
    assert ours["high"] == pytest.approx(ours["difference"] + half, abs=0.05 * half)
    assert ours["verdict"] == "ahead"


def test_compare_means_verdicts():
    high, low = [10.0, 12.0, 11.0, 13.0], [1.0, 2.0, 0.0, 3.0]
    assert scores.compare_means(high, low)["verdict"] == "ahead"
    assert scores.compare_means(low, high)["verdict"] == "behind"
    # overlapping noisy samples with nearly equal means cannot be told apart
    assert scores.compare_means([0.0, 800.0, 300.0], [100.0, 700.0, 250.0])["verdict"] == "level"
    one = scores.compare_means([5.0], low)
    assert one["verdict"] == "level" and np.isnan(one["low"]) and np.isnan(one["high"])
    assert one["difference"] == pytest.approx(3.5)


@pytest.mark.parametrize(
    "verdicts, answer",
    [
        ({"A": "ahead", "B": "level"}, "Yes"),
        ({"A": "behind", "B": "level"}, "No"),
        ({"A": "ahead", "B": "behind"}, "Mixed"),
        ({"A": "level", "B": "level"}, "Not measurably"),
    ],
)
def test_tally(verdicts, answer):
    got, names = scores.tally({g: {"verdict": v} for g, v in verdicts.items()})
    assert got == answer
    assert sorted(sum(names.values(), [])) == sorted(verdicts)
    assert all(verdicts[g] == v for v, gs in names.items() for g in gs)


def test_compare_intervals_needs_disjoint_intervals():
    assert scores.compare_intervals((0.5, 0.4, 0.6), (0.2, 0.1, 0.3)) == "above"
    assert scores.compare_intervals((0.2, 0.1, 0.3), (0.5, 0.4, 0.6)) == "below"
    # the points differ but the intervals overlap: not told apart
    assert scores.compare_intervals((0.5, 0.25, 0.7), (0.2, 0.1, 0.3)) == "level"


def test_bootstrap_intervals_repeat_for_a_seed_and_leave_numpy_alone():
    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(20, 4))  # (episodes, games)
    taus = np.linspace(-1.0, 1.0, 5)
    np.random.seed(123)
    expected_next_draw = np.random.random()
    np.random.seed(123)

    first = scores.aggregate({"run": matrix}, reps=200, seed=7)
    second = scores.aggregate({"run": matrix}, reps=200, seed=7)
    other = scores.aggregate({"run": matrix}, reps=200, seed=8)
    bands = [
        scores.performance_profiles({"run": matrix}, taus, reps=200, seed=7)[1]["run"]
        for _ in range(2)
    ]

    assert first == second
    assert first["run"]["IQM"][1:] != other["run"]["IQM"][1:]
    np.testing.assert_array_equal(bands[0], bands[1])
    # the caller's global numpy stream goes on as if the bootstrap had not run
    assert np.random.random() == expected_next_draw
