"""The in-memory sampler and the training loop that draws its batches inside the jitted step
(`train.sampler=memory`), checked against the host sampler's numpy path on hand-made runs, and
the budget in passes with its evaluations along the way."""

import warnings

import jax
import numpy as np
import pytest

from scaledql import benchmarks, configs, data, offline, pipeline, studies
from scaledql.data import format as fmt


@pytest.fixture(autouse=True)
def isolated(own_storage):
    return own_storage


def binary_grid(episode: int, step: int, channels: int) -> np.ndarray:
    """A binary (10, 10, K) grid that names its episode and step in bits: row 0 of channel 0
    holds the episode, row 1 the step, cell (2, 0, 0) marks a real frame."""
    g = np.zeros((10, 10, channels), np.uint8)
    g[0, :, 0] = (episode >> np.arange(10)) & 1
    g[1, :, 0] = (step >> np.arange(10)) & 1
    g[2, 0, 0] = 1
    g[9, 9, channels - 1] = 1  # the run's own last channel, never padding
    return g


def named(grid: np.ndarray) -> tuple[int, int] | None:
    """(episode, step) a grid names; None for the zeros after a terminal."""
    if not grid[2, 0, 0]:
        assert not grid.any()
        return None
    bits = 1 << np.arange(10)
    return int(grid[0, :, 0] @ bits), int(grid[1, :, 0] @ bits)


def write_run(run_dir, lengths, channels, last_open=False):
    """Episodes of the given lengths, rewards that exercise clipping (3.0 clips to 1)."""
    writer = data.ReplayWriter(run_dir, capacity=16, frame_shape=(10, 10, channels))
    rng = np.random.default_rng(sum(lengths) + channels)
    for e, length in enumerate(lengths):
        for t in range(length):
            ends = t == length - 1 and not (last_open and e == len(lengths) - 1)
            writer.add(
                binary_grid(e, t, channels), int(rng.integers(3)), rng.choice([0.0, 1.0, 3.0]), ends
            )
    writer.close()


@pytest.fixture
def two_games(tmp_path):
    """Game 0: a run with a missing checkpoint (a segment start mid-episode) and an open last
    episode; game 1: a narrower run of short episodes (many terminals)."""
    write_run(tmp_path / "a", [30, 25, 20], channels=6, last_open=True)
    for path in fmt.checkpoint_files(tmp_path / "a", 2):
        path.unlink()
    write_run(tmp_path / "b", [3, 4, 2, 5, 6, 3, 4], channels=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the missing checkpoint is the point
        return [[data.open_run(tmp_path / "a")], [data.open_run(tmp_path / "b")]]


@pytest.mark.parametrize("n_step", [1, 3])
def test_in_loop_batches_hold_only_the_host_samplers_valid_transitions(two_games, n_step):
    discount, channels = 0.9, 7
    host = data.MultiGameSampler(two_games, 8, n_step, discount, channels=channels)
    packed = data.pack_transitions(two_games, n_step, discount, channels)
    assert packed.num_transitions == sum(len(v[0]) for v in host.valid)

    sample = jax.jit(lambda key: data.sample_packed(packed, key, 64, (10, 10, channels)))
    drawn = {0: set(), 1: set()}
    games = []
    for i in range(60):
        batch = jax.device_get(sample(jax.random.key(i)))
        games += list(batch["game_id"])
        for j, game in enumerate(batch["game_id"]):
            run = two_games[game][0]
            episode, step = named(batch["state"][j])
            # the row that frame came from, found by what it names, not by the sampler
            row = next(
                r for r in range(run.num_rows) if named(run.frames(np.array([r]))[0]) == (
                    episode, step
                )
            )  # fmt: skip
            assert row in set(host.valid[game][0]), f"game {game} row {row} is not valid"
            drawn[game].add(row)
            expected = run.get(np.array([row]), n_step, discount)
            for key in ("action", "reward", "terminal"):
                np.testing.assert_allclose(batch[key][j], expected[key][0], rtol=1e-6)
            own = run.frame_shape[-1]
            np.testing.assert_array_equal(
                batch["next_state"][j][..., :own], expected["next_state"][0]
            )
            assert not batch["state"][j][..., own:].any()  # zero-padded to the batch's width
    for game in (0, 1):  # every valid transition can be drawn
        assert drawn[game] == set(host.valid[game][0])
    assert 0.4 < np.mean(games) < 0.6  # games uniform, as the host sampler draws them


def test_a_grid_that_is_not_binary_cannot_be_packed(tmp_path):
    writer = data.ReplayWriter(tmp_path / "run", capacity=16, frame_shape=(10, 10, 4))
    for t in range(5):
        writer.add(np.full((10, 10, 4), 2, np.uint8), 0, 0.0, t == 4)
    writer.close()
    with pytest.raises(ValueError, match="not binary"):
        data.pack_transitions([[data.open_run(tmp_path / "run")]])


def memory_config(*settings):
    return configs.override(
        configs.preset("twin-smoke"),
        ["train.sampler=memory", "train.steps_per_call=5", "train.checkpoint_every=10",
         "train.log_every=5", *settings],
    )  # fmt: skip


def test_a_killed_in_loop_run_resumes_to_the_same_parameters(two_games, killed_and_resumed):
    killed_and_resumed(memory_config("train.num_steps=20"), two_games)


def test_the_budget_in_passes_sets_the_steps_and_the_evaluation_points(tmp_path, two_games):
    transitions = data.pack_transitions(two_games).num_transitions
    # 2 passes of batch 8: 2 * transitions / 8 steps, up to a multiple of 5
    config = memory_config("train.passes=2", "eval.at_fractions=0.25,0.5")
    steps = -(-round(2 * transitions / 8) // 5) * 5
    assert configs.gradient_steps(config, transitions) == steps
    played = []
    result = offline.train_offline(
        config, tmp_path / "w", two_games, progress=False,
        evaluate=lambda step, params: played.append(step),
    )  # fmt: skip
    assert result.num_steps == steps and result.transitions == transitions
    quarter, half = (round(f * steps / 5) * 5 for f in (0.25, 0.5))
    assert played == [quarter, half]
    assert configs.evaluation_steps(config, steps) == [quarter, half, steps]


def test_a_budget_of_zero_steps_and_bad_fractions_are_refused():
    config = memory_config("train.passes=0.0001")
    with pytest.raises(
        ValueError, match=r"train.passes=0.0001 over 1,000 transitions .* 0 gradient"
    ):
        configs.gradient_steps(config, 1000)
    for bad in ("0.5,0.25", "0,0.5", "1.0"):
        with pytest.raises(ValueError, match="eval.at_fractions"):
            memory_config(f"eval.at_fractions={bad}")
    with pytest.raises(ValueError, match="train.sampler=memory holds MinAtar grids"):
        configs.override(configs.preset("smoke"), ["train.sampler=memory"])


def test_a_subset_that_does_not_fit_in_memory_is_refused(two_games, monkeypatch):
    monkeypatch.setattr(data.in_memory, "available_bytes", lambda: 1000)
    with pytest.raises(MemoryError, match="data.subset=all .* set train.sampler=host"):
        data.check_fits(two_games, "data.subset=all of 2 games")


def test_a_run_records_its_budget_and_its_returns_along_it(monkeypatch):
    config = memory_config("train.passes=0.1", "eval.at_fractions=0.5", "eval.episodes=2")
    record = pipeline.run_or_load(config)
    budget = record["data"]["budget"]
    steps = budget["gradient_steps"]
    assert budget["passes"] == pytest.approx(steps * 8 / budget["transitions"])
    points = record["evaluations"]
    assert [p["step"] for p in points] == [round(steps / 2 / 5) * 5, steps]
    assert points[-1]["returns"] == {g: s["returns"] for g, s in record["scores"].items()}
    for point in points:
        assert point["passes"] == pytest.approx(point["step"] * 8 / budget["transitions"])
        assert set(point["mean_return"]) == set(config.games)


def test_the_twins_near_optimal_runs_keep_the_sub_optimal_runs_steps():
    def scaled_ql(twin_preset: str) -> list[configs.Config]:
        claims, _ = studies.multi_game.twin_studies(twin_preset)
        return [r.config for r in claims.runs if r.key[1] == "Scaled QL"]

    sub, near = scaled_ql("twin")[:2]  # seed 0 on each dataset, the initial 20 % first
    # all of the data is 5 times the initial 20 %: a fifth of the passes, the same steps
    assert near.train.passes == pytest.approx(sub.train.passes / 5)
    steps = [configs.gradient_steps(c, benchmarks.planned_transitions(c)) for c in (sub, near)]
    assert steps[0] == steps[1] == 125_000
    # a budget in steps is the same steps on either dataset
    short = scaled_ql("twin-short")
    assert {c.train.num_steps for c in short} == {10_000}
    assert all(c.train.passes == 0 for c in short)


def test_a_resumed_run_keeps_the_evaluations_it_played_before_it_was_killed(monkeypatch):
    config = memory_config("train.passes=0.1", "eval.at_fractions=0.25,0.5", "eval.episodes=1")
    calls = []

    def evaluate(config, params, seed=0, progress=False, **kwargs):
        calls.append(len(calls))
        if len(calls) == 2:  # killed while playing the second point
            raise KeyboardInterrupt
        return {game: [float(len(calls))] for game in config.games}

    monkeypatch.setattr(pipeline.evaluate, "evaluate", evaluate)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run_or_load(config, progress=False)
    record = pipeline.run_or_load(config, progress=False)
    # the first point was read back, the second played again, then the end
    assert len(calls) == 4
    means = [set(point["mean_return"].values()) for point in record["evaluations"]]
    assert means == [{1.0}, {3.0}, {4.0}]
