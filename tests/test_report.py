"""The sentences and captions the package writes for the book, read as a person would."""

import pytest

from scaledql import report

FIVE = ["minatar/Asterix", "minatar/Breakout", "minatar/Freeway", "minatar/Seaquest", "Pong"]


@pytest.mark.parametrize(
    ("by_verdict", "expected"),
    [
        ({"above": [], "below": [], "level": FIVE}, "level in all five games"),
        ({"above": FIVE[:2], "below": [], "level": []}, "above in both games"),
        ({"above": ["minatar/Asterix"], "level": []}, "above in Asterix"),
        ({"above": [], "below": [], "level": []}, "in no game"),
        (
            {"above": FIVE[:1], "below": [], "level": FIVE[1:]},
            "above in Asterix and level in the other four",
        ),
        (
            {"above": FIVE[:1], "below": FIVE[1:2], "level": FIVE[2:]},
            "above in Asterix, below in Breakout and level in the other three",
        ),
        (
            {"above": FIVE[:2], "below": FIVE[2:3], "level": FIVE[3:]},
            "above in Asterix and Breakout, below in Freeway and level in Seaquest and Pong",
        ),
    ],
)
def test_per_game_verdicts_read_as_a_sentence(by_verdict, expected):
    assert report.where(by_verdict) == expected


def test_many_games_are_counted_in_figures():
    twelve = [f"g{i}" for i in range(12)]
    assert report.where({"level": twelve}) == "level in all 12 games"
    assert report.where({"above": ["a"], "level": twelve}) == "above in a and level in the other 12"


def test_verdict_words_and_nouns_can_change():
    text = report.where({"above": ["a"], "below": ["b"]}, {"above": "ahead"}, "mode")
    assert text == "ahead in a and below in b"
    assert report.where({"level": ["a", "b", "c"]}, noun="variant") == "level in all three variants"


def test_how_many_counts_in_words_and_names_a_part():
    assert report.how_many([], 5) == "in none of the five games"
    assert report.how_many(FIVE, 5) == "in all five games"
    assert report.how_many(FIVE[:2], 5) == "in two of five games (Asterix and Breakout)"


def test_an_answer_from_one_run_a_side_carries_its_hedge_in_the_same_sentence():
    assert report.hedged("Yes", 1) == "Yes, in one run of each: weak evidence either way"
    assert report.hedged("Yes", 3) == "Yes"
    assert report.hedged("Not measurably", 1) == "Not measurably"


def test_seed_numbers_read_as_ranges():
    assert report.numbers([0, 1, 2, 3, 4]) == "0-4"
    assert report.numbers([2, 0, 1, 7]) == "0-2, 7"
    assert report.numbers([0, 1]) == "0, 1"


def test_a_long_command_folds_between_options_within_the_width():
    command = "scaledql train --preset twin " + " ".join(f"--set key{i}=value{i}" for i in range(9))
    folded = report.fold(command, width=40)
    lines = folded.splitlines()
    assert all(len(line) <= 40 for line in lines)
    assert all(line.endswith(" \\") for line in lines[:-1])
    assert lines[0] == "scaledql train --preset twin \\"
    assert " ".join(line.rstrip(" \\").strip() for line in lines) == command  # nothing lost
    assert report.fold("scaledql train --preset cpu") == "scaledql train --preset cpu"


def test_bars_of_exactly_zero_are_named_in_the_caption():
    values = {"pre-trained": {"Freeway": 0.0, "Hero": 0.0, "Breakout": 3.8},
              "scratch": {"Freeway": 0.0, "Hero": 1.0, "Breakout": 0.1}}  # fmt: skip
    assert report.zero_bars_note(values, "modes") == (
        " The bars missing are exactly 0 in these modes: Freeway (every agent) and Hero "
        "(pre-trained)."
    )
    assert report.zero_bars_note({"a": {"x": 1.0}}) == ""


def test_values_that_look_like_zero_beside_the_paper_s_are_named():
    note = report.near_zero_note([0.1, 0.05, 1.0], [77.8, 51.0], "our IQMs")
    assert "our IQMs (from 0.1 to 1.0) sit on zero" in note
    assert report.near_zero_note([20.0, 1.0], [77.8]) == ""
