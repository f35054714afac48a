"""Every verdict the book states, on small hand-made records whose answer is known."""

import numpy as np
import pytest

from scaledql import analysis


def record(games_returns: dict, seed: int = 0, curve=()) -> dict:
    """A record as `records.build_record` writes it, with only what the analysis reads."""
    return {
        "config": {"name": "cpu", "seed": seed, "games": list(games_returns)},
        "config_hash": "abc",
        "scale": "reduced scale (cpu)",
        "scores": {
            g: {"returns": list(r), "mean_return": float(np.mean(r))}
            for g, r in games_returns.items()
        },
        "learning_curve": [{"return": r} for r in curve],
        "provenance": {"date": "2026-01-01T00:00:00+00:00"},
    }


def test_compare_episodes_interval_matches_the_normal_approximation():
    rng = np.random.default_rng(3)
    a, b = rng.normal(5.0, 2.0, 400), rng.normal(4.5, 1.0, 300)
    ours = analysis.compare_episodes(a, b, reps=4000, seed=1)
    # independent reference: the large-sample (Welch) interval, with the bootstrap's ddof=0
    half = 1.959964 * np.sqrt(a.var() / a.size + b.var() / b.size)
    assert ours["difference"] == pytest.approx(a.mean() - b.mean())
    assert ours["low"] == pytest.approx(ours["difference"] - half, abs=0.05 * half)
    assert ours["high"] == pytest.approx(ours["difference"] + half, abs=0.05 * half)
    assert ours["verdict"] == "above"


def test_compare_episodes_verdicts():
    high, low = [10.0, 12.0, 11.0, 13.0], [1.0, 2.0, 0.0, 3.0]
    assert analysis.compare_episodes(high, low)["verdict"] == "above"
    assert analysis.compare_episodes(low, high)["verdict"] == "below"
    # overlapping noisy samples with nearly equal means cannot be told apart
    assert (
        analysis.compare_episodes([0.0, 800.0, 300.0], [100.0, 700.0, 250.0])["verdict"] == "level"
    )
    one = analysis.compare_episodes([5.0], low)
    assert one["verdict"] == "level" and np.isnan(one["low"]) and np.isnan(one["high"])
    assert one["difference"] == pytest.approx(3.5)


@pytest.mark.parametrize(
    "verdicts, answer",
    [
        ({"A": "above", "B": "level"}, "Yes"),
        ({"A": "below", "B": "level"}, "No"),
        ({"A": "above", "B": "below"}, "Mixed"),
        ({"A": "level", "B": "level"}, "Not measurably"),
    ],
)
def test_tally(verdicts, answer):
    got, names = analysis.tally({g: {"verdict": v} for g, v in verdicts.items()})
    assert got == answer
    assert sorted(sum(names.values(), [])) == sorted(verdicts)
    assert all(verdicts[g] == v for v, gs in names.items() for g in gs)


def test_compare_needs_disjoint_intervals():
    assert analysis.compare((0.5, 0.4, 0.6), (0.2, 0.1, 0.3)) == "above"
    assert analysis.compare((0.2, 0.1, 0.3), (0.5, 0.4, 0.6)) == "below"
    # the points differ but the intervals overlap: not told apart
    assert analysis.compare((0.5, 0.25, 0.7), (0.2, 0.1, 0.3)) == "level"


def test_normalized_episodes_by_hand_and_without_pooyan():
    # Pong: random -20.7, human 14.6; Breakout: random 1.7, human 30.5 (DQN's Atari-57 table)
    first = record({"Pong": [-20.7, 14.6], "Breakout": [1.7, 16.1], "Pooyan": [500.0, 600.0]})
    second = record({"Pong": [-3.05, -20.7], "Breakout": [30.5, 1.7], "Pooyan": [1.0, 2.0]}, seed=1)
    games, matrix = analysis.normalized_episodes([first, second])
    assert games == ["Pong", "Breakout"]
    np.testing.assert_allclose(matrix, [[0, 0], [1, 0.5], [0.5, 1], [0, 0]], atol=1e-12)


def test_trend_compares_the_largest_size_with_the_smallest_whatever_the_order():
    low, mid, high = (0.1, 0.0, 0.2), (0.5, 0.4, 0.6), (0.9, 0.8, 1.0)
    assert analysis.trend([(30, high), (10, low), (20, mid)]) == "above"
    assert analysis.trend([(30, low), (10, high), (20, mid)]) == "below"
    # the ends' intervals overlap: a dip in the middle does not make a direction
    assert analysis.trend([(10, (0.5, 0.3, 0.7)), (20, low), (30, (0.6, 0.4, 0.8))]) == "level"
    assert analysis.TREND_WORDS["above"] == "rises" and analysis.TREND_WORDS["level"] == "is flat"


def test_a_slope_has_a_direction_only_where_its_interval_excludes_zero_over_seeds():
    assert analysis.slope_trend((0.2, 0.1, 0.3), fewest_runs=3) == "above"
    assert analysis.slope_trend((-0.2, -0.3, -0.1), fewest_runs=3) == "below"
    assert analysis.slope_trend((0.2, -0.1, 0.5), fewest_runs=3) == "level"
    # one seed at a size: its interval shows no seed noise, so it says nothing
    assert analysis.slope_trend((0.2, 0.2, 0.2), fewest_runs=1) == "level"


def test_trend_breaks_are_the_middle_points_outside_the_ends_range():
    # sizes out of order on purpose: by size the points are 1.0, -0.6, 2.0, 3.0, 0.7
    points = [(3, "c", 2.0), (1, "a", 1.0), (5, "e", 0.7), (2, "b", -0.6), (4, "d", 3.0)]
    assert analysis.trend_breaks(points) == [("b", -0.6), ("c", 2.0), ("d", 3.0)]
    assert analysis.trend_breaks([(1, "a", 0.0), (2, "b", 0.5), (3, "c", 1.0)]) == []


@pytest.mark.parametrize(
    "ours, paper, answer",
    [
        ("above", "above", "yes"),
        ("level", "above", "within noise"),
        ("below", "above", "no"),
        ("below", "below", "yes"),
        ("above", "not above", "no"),
        ("level", "not above", "yes"),
        ("below", "not above", "yes"),
        ("below", "not below", "no"),
    ],
)
def test_agreement_with_the_paper(ours, paper, answer):
    assert analysis.agreement(ours, paper) == answer


def test_agreement_names_an_unknown_paper_verdict():
    with pytest.raises(ValueError, match="unknown paper verdict 'rises'"):
        analysis.agreement("above", "rises")


def test_games_moved_beyond_the_episode_noise():
    baseline = record({"Asterix": [200, 210, 190, 205], "Pong": [-21, -21, -20, -21],
                       "Seaquest": [100, 300, 200, 250]})  # fmt: skip
    variant = record({"Asterix": [600, 610, 590, 605], "Pong": [-21, -21, -21, -21],
                      "Seaquest": [120, 280, 210, 240]})  # fmt: skip
    moved = analysis.games_moved(variant, baseline)
    assert moved == {"above": ["Asterix"], "below": [], "level": ["Pong", "Seaquest"]}
    assert analysis.games_moved(baseline, variant)["below"] == ["Asterix"]


def test_games_above_a_reference_and_games_without_signal():
    sql = record({"Pong": [-21.0, -21.0], "Breakout": [3.0, 5.0], "Asterix": [200.0, 200.0]})
    bc = record({"Pong": [-21.0, -20.7], "Breakout": [1.0, 1.0], "Asterix": [300.0, 100.0]})
    behaviour = {"Pong": -20.5, "Breakout": 1.9, "Asterix": 346.2}
    assert analysis.games_above(sql, behaviour) == ["Breakout"]
    random = {"Pong": -20.7, "Breakout": 1.7, "Asterix": 210.0}
    # Pong: no run above random play, data within a point of it; Asterix: the data is not
    assert analysis.games_without_signal([sql, bc], behaviour, random) == ["Pong"]


def test_late_training_returns_are_the_last_third_of_the_episodes():
    assert analysis.late_training_returns(record({"Pong": [0.0]}, curve=range(10))) == [7, 8, 9]
    assert analysis.late_training_returns(record({"Pong": [0.0]}, curve=[4, 5])) == [5]
    assert analysis.late_training_returns(record({"Pong": [0.0]})) == []


def test_scoreless_and_relative_gain():
    assert analysis.scoreless([0.0, 0.0], [], [0.0])
    assert not analysis.scoreless([0.0], [0.0, 1.0])
    assert analysis.relative_gain(0.3, 0.2) == pytest.approx(0.5)
    assert analysis.relative_gain(0.1, -0.2) == pytest.approx(1.5)
    assert np.isnan(analysis.relative_gain(0.1, 0.0))


def test_compare_to_point_by_hand_and_against_the_normal_approximation():
    assert analysis.compare_to_point([1.0, 1.0, 1.0], 0.0)["verdict"] == "above"
    assert analysis.compare_to_point([1.0, 1.0, 1.0], 1.0)["verdict"] == "level"
    assert analysis.compare_to_point([1.0, 1.0, 1.0], 2.0)["verdict"] == "below"
    rng = np.random.default_rng(2)
    values = rng.normal(10.0, 3.0, 500)
    got = analysis.compare_to_point(values, 9.0, reps=4000, seed=1)
    half = 1.959964 * values.std() / np.sqrt(values.size)  # the large-sample interval
    assert got["mean"] == pytest.approx(values.mean())
    assert got["low"] == pytest.approx(values.mean() - half, abs=0.05 * half)
    assert got["high"] == pytest.approx(values.mean() + half, abs=0.05 * half)
    assert got["verdict"] == "above"


def test_a_collection_curve_leaves_out_stretches_without_an_episode():
    from scaledql import records

    summary = {"learning_curve": [{"frames": 100, "episodes": 2, "mean_return": 1.5},
                                  {"frames": 200, "episodes": 0, "mean_return": None},
                                  {"frames": 300, "episodes": 1, "mean_return": 4.0}]}  # fmt: skip
    assert records.collection_curve(summary) == [(100, 1.5), (300, 4.0)]


def test_a_collection_is_compared_with_the_published_curve_at_its_frames():
    summary = {"frames": 5_000_000, "final_returns": [9.0, 10.0, 11.0] * 10,
               "random_returns": [0.0, 1.0] * 50}  # fmt: skip
    published = [(1_000_000, 9.5), (5_000_000, 20.0)]
    got = analysis.behaviour_against_published(summary, published)
    assert got["published"] == 20.0 and got["verdict"] == "below"
    assert got["final"][0] == pytest.approx(10.0) and got["random"] == pytest.approx(0.5)
    got = analysis.behaviour_against_published(summary, [(5_000_000, 10.0)])
    assert got["verdict"] == "level"


def test_seed_learning_curves_average_each_stretch_of_frames_then_over_seeds():
    first = [{"frames": f, "return": r} for f, r in ((10, 1.0), (40, 3.0), (60, 5.0), (100, 7.0))]
    second = [{"frames": f, "return": r} for f, r in ((30, 2.0), (100, 4.0))]
    curve = analysis.seed_learning_curve([first, second], bins=2)  # stretches (0, 50], (50, 100]
    np.testing.assert_array_equal(curve["frames"], [50, 100])
    np.testing.assert_array_equal(curve["per_seed"], [[2.0, 6.0], [2.0, 4.0]])
    np.testing.assert_array_equal(curve["mean"], [2.0, 5.0])
    np.testing.assert_array_equal(curve["low"], [2.0, 4.0])
    np.testing.assert_array_equal(curve["high"], [2.0, 6.0])
    # a stretch where a seed ended no episode is NaN for that seed, and left out of the mean
    gap = analysis.seed_learning_curve([[{"frames": 100, "return": 1.0}], second], bins=2)
    np.testing.assert_array_equal(gap["per_seed"][0], [np.nan, 1.0])
    np.testing.assert_array_equal(gap["mean"], [2.0, 2.5])


def test_a_seed_comparison_needs_two_seeds_on_each_side_unless_the_other_is_a_reference():
    games = 4
    x = np.array([[0.9] * games, [1.0] * games, [1.1] * games])  # (3 seeds, games)
    one = np.full((1, games), 0.1)  # far below every seed of x
    both = analysis.seed_comparison(x, np.concatenate([one, one + 0.05]))
    assert both["verdict"] == "above" and both["runs"] == (3, 2)
    # one seed of a method: its spread over seeds is unknown, so the gap decides nothing
    assert analysis.seed_comparison(x, one)["verdict"] == "level"
    # a reference (a point per game, as the behaviour data) has no seeds to spread
    against = analysis.seed_comparison(x, one, reference=True)
    assert against["verdict"] == "above" and against["runs"] == (3,)
    assert analysis.seed_comparison(x[:1], one, reference=True)["verdict"] == "level"
