"""Reference scores, normalisation and rliable's aggregates, against hand computations and
rliable called directly."""

import numpy as np
import pytest

from scaledql import scores


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


def test_aggregates_agree_with_rliable_called_directly():
    from rliable import library as rly
    from rliable import metrics

    rng = np.random.default_rng(0)
    score_dict = {"a": rng.normal(1, 0.5, (3, 10)), "b": rng.normal(0.5, 0.5, (3, 10))}
    ours = scores.aggregate(score_dict, reps=2000, seed=7)
    funcs = [metrics.aggregate_iqm, metrics.aggregate_median, metrics.aggregate_mean]
    for metric, func in zip(scores.METRICS, funcs, strict=True):
        np.random.seed(7)  # rliable resamples from numpy's global stream
        points, intervals = rly.get_interval_estimates(
            score_dict, lambda s, f=func: np.array([f(s)]), reps=2000
        )
        for method in score_dict:
            point, low, high = ours[method][metric]
            assert point == pytest.approx(points[method][0])  # point estimates: exact
            assert low <= point <= high
            # intervals: the same resamples, drawn from the same seed
            assert (low, high) == pytest.approx(tuple(intervals[method][:, 0]), rel=1e-12)
    # IQM by hand: the mean of the middle half of the 30 scores
    flat = np.sort(score_dict["a"].ravel())
    assert ours["a"]["IQM"][0] == pytest.approx(flat[7:23].mean(), rel=0.02)


@pytest.mark.parametrize("shape_x, shape_y", [((3, 5), (3, 5)), ((5, 4), (2, 4)), ((1, 7), (4, 7))])
def test_iqm_and_improvement_probability_agree_with_rliable_metrics(shape_x, shape_y):
    from rliable import metrics

    rng = np.random.default_rng(1)
    # small integers: many ties, inside and across the two methods
    x = rng.integers(0, 4, shape_x).astype(float)
    y = rng.integers(0, 4, shape_y).astype(float)
    for scores_x in (x, x + rng.normal(0, 0.1, shape_x)):
        assert scores.iqm(scores_x) == pytest.approx(metrics.aggregate_iqm(scores_x), rel=1e-12)
        for scores_y in (y, scores_x[: shape_y[0]]):
            expected = metrics.probability_of_improvement(scores_x, scores_y)
            assert scores.improvement_probability(scores_x, scores_y) == pytest.approx(expected)
    # by hand: one game, X = (1, 2), Y = (2, 0): pairs 1>2 no, 1>0 yes, 2=2 half, 2>0 yes
    assert scores.improvement_probability([[1.0], [2.0]], [[2.0], [0.0]]) == 2.5 / 4


def test_probability_of_improvement_agrees_with_rliable_called_directly():
    from rliable import library as rly
    from rliable import metrics

    rng = np.random.default_rng(2)
    x, y = rng.normal(0.6, 0.3, (3, 5)), rng.normal(0.5, 0.3, (5, 5))
    np.random.seed(11)  # rliable resamples from numpy's global stream
    points, intervals = rly.get_interval_estimates(
        {"x,y": [x, y]}, metrics.probability_of_improvement, reps=500
    )
    point, low, high = scores.probability_of_improvement(x, y, reps=500, seed=11)
    assert point == pytest.approx(points["x,y"])
    assert (low, high) == pytest.approx(tuple(np.ravel(intervals["x,y"])), rel=1e-12)


def test_normalisation_and_the_missing_pooyan_score():
    assert scores.normalized_score("Pong", 14.6) == pytest.approx(1.0)
    assert scores.normalized_score("Pong", -20.7) == pytest.approx(0.0)
    assert scores.normalized_score("Breakout", 96.23, "dqn") == pytest.approx(1.0)
    human, missing = scores.normalize({"Pooyan": [400.0], "Pong": [-3.05]})
    assert missing == ["Pooyan"] and human == {"Pong": pytest.approx(0.5)}
    assert len(scores.reference_scores()) == 45


def test_performance_profile_is_the_fraction_of_scores_above_tau():
    score_dict = {"a": np.array([[0.1, 0.5, 0.9, 1.5], [0.2, 0.6, 1.1, 2.0]])}
    taus = np.array([0.0, 0.55, 1.0, 3.0])
    profiles, _ = scores.performance_profiles(score_dict, taus, reps=50)
    by_hand = [(score_dict["a"] > tau).mean() for tau in taus]  # 8/8, 5/8, 3/8, 0/8
    np.testing.assert_allclose(profiles["a"], by_hand)


def test_iqm_slope_is_the_least_squares_slope_per_tenfold_size():
    sizes = [1e3, 1e4, 3e4, 1e6]
    iqms = [0.1, 0.3, 0.2, 0.7]
    # every run and game of a size scores that size's IQM: nothing to resample
    by_size = [np.full((3, 4), v) for v in iqms]
    point, low, high = scores.iqm_slope(sizes, by_size)
    reference = np.polyfit(np.log10(sizes), iqms, 1)[0]
    assert point == pytest.approx(reference) and low == pytest.approx(reference)
    assert high == pytest.approx(reference)


def test_iqm_slope_intervals_hold_the_seed_noise_and_refuse_one_size():
    rng = np.random.default_rng(0)
    flat = [rng.normal(0.5, 0.2, (3, 5)) for _ in range(4)]
    point, low, high = scores.iqm_slope([1e3, 1e4, 1e5, 1e6], flat)
    assert low < point < high and low < 0 < high
    with pytest.raises(ValueError, match="two different sizes"):
        scores.iqm_slope([1e3, 1e3], flat[:2])
