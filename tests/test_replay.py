"""DQN Replay format: written then read back, against a reference built from the episodes alone."""

import gzip
import io
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scaledql import data
from scaledql.data import format as fmt


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALEDQL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def frame(episode: int, step: int) -> np.ndarray:
    """A frame that names its episode and step (pixel 3 marks a real frame, never padding)."""
    f = np.zeros(fmt.FRAME_SHAPE, np.uint8)
    f[0, :4] = episode % 256, step % 256, step // 256, 1
    return f


def write_episodes(run_dir, lengths, capacity, last_open=False):
    """Writes episodes of the given lengths; returns the reference list of transitions.

    Each transition is (episode, step, action, reward, terminal). With `last_open` the final
    episode has no terminal (a run stopped mid-episode).
    """
    writer = data.ReplayWriter(run_dir, capacity)
    rng = np.random.default_rng(len(lengths) * 1000 + capacity)
    reference = []
    for e, length in enumerate(lengths):
        for t in range(length):
            terminal = t == length - 1 and not (last_open and e == len(lengths) - 1)
            action, reward = int(rng.integers(6)), float(rng.choice([-1.0, 0.0, 1.0, 3.0]))
            writer.add(frame(e, t), action, reward, terminal)
            reference.append((e, t, action, min(reward, 1.0), terminal))
    writer.close()
    return reference, writer.add_count


def expected_state(episode, step):
    """(84, 84, 4): frames step-3..step of the episode, zeros before its start."""
    frames = [
        frame(episode, s) if s >= 0 else np.zeros(fmt.FRAME_SHAPE, np.uint8)
        for s in range(step - 3, step + 1)
    ]
    return np.stack(frames, axis=-1)


def decode(state):
    """(episode, step) of the newest frame of a stack."""
    last = state[..., -1]
    return int(last[0, 0]), int(last[0, 1]) + 256 * int(last[0, 2])


def check_against_reference(run, reference):
    """Every valid row is a reference transition, each appears once, stacks are exact."""
    valid = np.flatnonzero(run.valid_mask())
    batch = run.get(valid)
    lookup = {(e, t): (a, r, term) for e, t, a, r, term in reference}
    seen = set()
    for i in range(len(valid)):
        key = decode(batch["state"][i])
        assert batch["state"][i][0, 0, -1] == key[0] % 256 and batch["state"][i][0, 3, -1] == 1
        assert key in lookup, "a padding, stale or invalid row was sampled"
        assert key not in seen
        seen.add(key)
        action, reward, terminal = lookup[key]
        np.testing.assert_array_equal(batch["state"][i], expected_state(*key))
        assert batch["action"][i] == action and batch["reward"][i] == reward
        assert batch["terminal"][i] == terminal
        if not terminal:
            np.testing.assert_array_equal(
                batch["next_state"][i], expected_state(key[0], key[1] + 1)
            )
    return seen


def test_round_trip_across_checkpoint_boundaries(tmp_path):
    lengths = [7, 31, 2, 50, 1, 19, 40, 12]  # episodes straddle the 20-row checkpoints
    reference, add_count = write_episodes(tmp_path / "run", lengths, capacity=20)
    run = data.open_run(tmp_path / "run")
    assert run.num_rows == add_count == sum(lengths) + 3 * len(lengths)
    assert len(run.checkpoints) > 5
    seen = check_against_reference(run, reference)
    # every transition comes back (the last one is terminal, so it needs no next state)
    assert seen == {(e, t) for e, t, *_ in reference}
    open_reference, _ = write_episodes(tmp_path / "open", lengths, capacity=20, last_open=True)
    seen = check_against_reference(data.open_run(tmp_path / "open"), open_reference)
    assert seen == {(e, t) for e, t, *_ in open_reference[:-1]}  # no next state for the last


def buffer_model(stream, capacity, add_count):
    """The circular buffer after `add_count` rows: each position holds its latest row."""
    buffer = [None] * capacity
    for g in range(add_count):
        buffer[g % capacity] = stream[g]
    return buffer


def stdlib_load(path):
    """Reads a checkpoint file with the standard library alone, as Dopamine's loader does."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    array = np.load(io.BytesIO(raw), allow_pickle=False)
    expected = io.BytesIO()
    np.save(expected, array, allow_pickle=False)
    assert raw == expected.getvalue()  # the .npy bytes are exactly what np.save writes
    return array


def test_files_are_dopamine_layout_byte_for_byte(tmp_path):
    capacity = 16
    reference, add_count = write_episodes(tmp_path / "run", [9, 14, 3, 22], capacity)
    # the row stream as Dopamine adds it: 3 zero rows, then the episode's rows
    stream = []
    for e in range(4):
        stream += [(np.zeros(fmt.FRAME_SHAPE, np.uint8), 0, 0.0, 0)] * 3
        stream += [(frame(e, t), a, r, int(term)) for ee, t, a, r, term in reference if ee == e]
    suffixes = fmt.find_suffixes(tmp_path / "run")
    assert suffixes == list(range(len(suffixes)))
    for suffix in suffixes:
        count = int(stdlib_load(fmt.scalar_path(tmp_path / "run", "add_count", suffix)))
        final = suffix == suffixes[-1]
        assert count == (add_count if final else (suffix + 1) * capacity - 1)
        model = buffer_model(stream, capacity, count)
        obs = stdlib_load(fmt.store_path(tmp_path / "run", "observation", suffix))
        action = stdlib_load(fmt.store_path(tmp_path / "run", "action", suffix))
        assert obs.dtype == np.uint8 and obs.shape == (capacity, 84, 84)
        assert action.dtype == np.int32
        assert stdlib_load(fmt.store_path(tmp_path / "run", "reward", suffix)).dtype == np.float32
        assert stdlib_load(fmt.store_path(tmp_path / "run", "terminal", suffix)).dtype == np.uint8
        for position, row in enumerate(model):
            if row is None:  # suffix 0's last position is never written
                assert suffix == 0 and position == capacity - 1 and not obs[position].any()
            else:
                np.testing.assert_array_equal(obs[position], row[0])
                assert action[position] == row[1]
        cursor = count % capacity
        invalid = stdlib_load(fmt.scalar_path(tmp_path / "run", "invalid_range", suffix))
        np.testing.assert_array_equal(invalid, [(cursor - 1 + i) % capacity for i in range(5)])
        if suffix >= 1 and not final:  # rolled by one: chronological rows kC-1 .. (k+1)C-2
            rolled = np.roll(obs, 1, axis=0)
            for i in range(capacity):
                np.testing.assert_array_equal(rolled[i], stream[suffix * capacity - 1 + i][0])


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lengths=st.lists(st.integers(1, 40), min_size=1, max_size=12),
    capacity=st.integers(8, 48),
    last_open=st.booleans(),
    n_step=st.integers(1, 3),
)
def test_property_no_stack_spans_episodes(tmp_path_factory, lengths, capacity, last_open, n_step):
    run_dir = tmp_path_factory.mktemp("run")
    reference, _ = write_episodes(run_dir, lengths, capacity, last_open)
    run = data.open_run(run_dir)
    check_against_reference(run, reference)
    valid = np.flatnonzero(run.valid_mask(n_step))
    if len(valid) == 0:
        return
    batch = run.get(valid, n_step=n_step, discount=0.5)
    by_key = {(e, t): (r, term) for e, t, a, r, term in reference}
    for i in range(len(valid)):
        episode, step = decode(batch["state"][i])
        # every frame of the stack is padding or the same episode, in order
        for k in range(4):
            f = batch["state"][i][..., k]
            if f.any():
                got = (int(f[0, 0]), int(f[0, 1]) + 256 * int(f[0, 2]))
                assert got == (episode % 256, step - 3 + k)
            else:
                assert step - 3 + k < 0
        # n-step reward and terminal from the reference episode
        want, terminal = 0.0, False
        for j in range(n_step):
            r, term = by_key[(episode, step + j)]
            want += 0.5**j * r
            if term:
                terminal = True
                break
        assert batch["terminal"][i] == terminal
        np.testing.assert_allclose(batch["reward"][i], want, rtol=1e-6)
        if not terminal:
            assert decode(batch["next_state"][i]) == (episode, step + n_step)


def test_a_run_without_valid_transitions_gives_empty_batches(tmp_path):
    write_episodes(tmp_path / "run", [1], capacity=8, last_open=True)
    run = data.open_run(tmp_path / "run")
    assert not run.valid_mask().any()
    assert run.get(np.zeros(0, np.int64))["state"].shape == (0, 84, 84, 4)


def test_missing_file_names_it(tmp_path):
    write_episodes(tmp_path / "run", [30, 30], capacity=16)
    fmt.store_path(tmp_path / "run", "reward", 1).unlink()
    with pytest.raises(data.DataFormatError, match=r"\$store\$_reward_ckpt\.1\.gz is missing"):
        data.open_run(tmp_path / "run")
    with pytest.raises(data.DataFormatError, match="not a directory"):
        data.open_run(tmp_path / "nowhere")


def test_corrupt_and_truncated_files_name_them(tmp_path):
    write_episodes(tmp_path / "run", [30, 30], capacity=16)
    path = fmt.store_path(tmp_path / "run", "observation", 2)
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])  # truncated
    with pytest.raises(data.DataFormatError, match=r"observation_ckpt\.2\.gz"):
        data.open_run(tmp_path / "run")
    path.write_bytes(b"not gzip at all" * 10)  # corrupt
    with pytest.raises(data.DataFormatError, match=r"observation_ckpt\.2\.gz"):
        data.open_run(tmp_path / "run")


def test_wrong_dtype_names_the_file(tmp_path):
    write_episodes(tmp_path / "run", [30], capacity=16)
    fmt.write_array(fmt.store_path(tmp_path / "run", "action", 0), np.zeros(16, np.int64))
    with pytest.raises(data.DataFormatError, match=r"action_ckpt\.0\.gz holds int64"):
        data.open_run(tmp_path / "run")


def test_cache_is_reused_rebuilt_after_damage_and_never_half_built(tmp_path, cache_dir):
    reference, _ = write_episodes(tmp_path / "run", [25, 25], capacity=16)
    data.open_run(tmp_path / "run")
    cached = sorted(cache_dir.rglob("observation.npy"))
    assert len(cached) == len(fmt.find_suffixes(tmp_path / "run"))
    mtimes = [p.stat().st_mtime_ns for p in cached]
    data.open_run(tmp_path / "run")  # reused, not rebuilt
    assert [p.stat().st_mtime_ns for p in cached] == mtimes
    # damage: truncate one cached array; a leftover temp dir from a killed build sits beside
    cached[1].write_bytes(cached[1].read_bytes()[:200])
    (cached[1].parent.parent / ".ckpt_1.leftover").mkdir()
    run = data.open_run(tmp_path / "run")
    check_against_reference(run, reference)
    # stale: the source checkpoint changed since the cache was built
    fmt.write_array(fmt.store_path(tmp_path / "run", "action", 0), np.full(16, 5, np.int32))
    assert np.all(data.open_run(tmp_path / "run").action[:10] == 5)


def test_missing_block_between_checkpoints_is_reported_and_not_crossed(tmp_path):
    reference, _ = write_episodes(tmp_path / "run", [60, 60], capacity=16)
    for path in fmt.checkpoint_files(tmp_path / "run", 3):
        path.unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = data.open_run(tmp_path / "run")
    assert any("between checkpoints 2 and 4 are not in the data" in str(w.message) for w in caught)
    assert "rows 47..62" in str(caught[0].message)
    check_against_reference(run, reference)  # stacks and next states never span the gap


def test_subsets(tmp_path):
    write_episodes(tmp_path / "run", [100] * 10, capacity=100)  # 1030 rows: suffixes 0..10
    full = data.open_run(tmp_path / "run")
    assert len(full.checkpoints) == 11
    initial = data.open_subset(tmp_path / "run", "initial:20")
    assert [c.suffix for c in initial.checkpoints] == [0, 1]  # 20 % of 10 full checkpoints
    assert initial.num_rows == 199
    uniform = data.open_subset(tmp_path / "run", "uniform:10")
    assert uniform.num_rows == sum(max(1, round(c.num_rows * 0.1)) for c in full.checkpoints)
    assert len(uniform.segment_starts) == 11  # every kept block stands alone
    np.testing.assert_array_equal(uniform.action[:10], full.action[:10])
    for bad in ("first:20", "initial:0", "uniform:x", "initial:150"):
        with pytest.raises(ValueError, match="initial:X"):
            data.parse_subset(bad)


def test_multi_game_sampler_weights_and_fields(tmp_path):
    runs = []
    for g in range(3):
        write_episodes(tmp_path / f"g{g}", [40, 40], capacity=32)
        runs.append([data.open_run(tmp_path / f"g{g}")])
    sampler = data.MultiGameSampler(runs, batch_size=600, weights=[0.5, 0.25, 0.25], seed=1)
    batch = sampler.sample()
    assert batch["state"].shape == (600, 84, 84, 4) and batch["state"].dtype == np.uint8
    counts = np.bincount(batch["game_id"], minlength=3)
    assert 240 < counts[0] < 360 and counts[1] > 100 and counts[2] > 100
    prefetch = sampler.prefetch(depth=2)
    assert next(prefetch)["game_id"].shape == (600,)
    prefetch.close()


def test_several_runs_in_the_dqn_replay_layout(tmp_path):
    for run in (1, 2):
        write_episodes(data.run_dir(tmp_path, "Pong", run), [30 * run], capacity=16)
    runs = data.open_game_runs(tmp_path, "Pong", (1, 2), "all")
    assert [r.num_rows for r in runs] == [33, 63]
    with pytest.raises(data.DataFormatError, match=r"run\(s\) \['3'\].*gsutil -m cp -R"):
        data.open_game_runs(tmp_path, "Pong", (1, 3), "all")


def grid(episode: int, step: int, channels: int = 4) -> np.ndarray:
    """A (10, 10, K) object grid that names its episode and step (cell (0, 3) marks a real
    frame)."""
    g = np.zeros((10, 10, channels), np.uint8)
    g[0, :4, 0] = episode % 256, step % 256, step // 256, 1
    return g


@pytest.mark.parametrize(
    ("zeros", "twos", "shares"),
    [
        # capacity 16, 40 rows: the last checkpoint's buffer holds rows 24-39, of which
        # rows 24-29 played action 0 and rows 30-39 action 2
        (30, 10, [6 / 16, 0.0, 10 / 16]),
        # 12 rows, never a full buffer: only those 12 count
        (10, 2, [10 / 12, 0.0, 2 / 12]),
    ],
)
def test_final_action_shares_count_the_last_checkpoints_rows(tmp_path, zeros, twos, shares):
    writer = data.ReplayWriter(tmp_path / "run", capacity=16, frame_shape=(10, 10, 4))
    rows = zeros + twos
    actions = np.r_[np.zeros(zeros, np.int32), np.full(twos, 2, np.int32)]
    writer.add_many(
        np.zeros((rows, 10, 10, 4), np.uint8), actions, np.zeros(rows), np.zeros(rows, bool)
    )
    writer.close()
    np.testing.assert_allclose(data.final_action_shares(tmp_path / "run"), shares)


def test_object_grids_are_written_and_read_back_one_frame_a_state(tmp_path):
    writer = data.ReplayWriter(tmp_path / "run", capacity=16, frame_shape=(10, 10, 4))
    lengths, reference = [5, 9, 7, 6], []
    for e, length in enumerate(lengths):
        for t in range(length):
            writer.add(grid(e, t), t % 3, 1.0 if t == 2 else 0.0, t == length - 1)
            reference.append((e, t, t % 3, 1.0 if t == 2 else 0.0, t == length - 1))
    writer.close()
    # stack size 1: no padding rows, so the add count is the number of transitions
    assert writer.add_count == sum(lengths) == 27
    run = data.open_run(tmp_path / "run")
    assert run.frame_shape == (10, 10, 4) and run.stack_size == 1
    # capacity 16: checkpoint 0 holds rows 0-14 and the final one rows 15-26
    assert [(c.first_row, c.add_count) for c in run.checkpoints] == [(0, 15), (15, 27)]
    valid = np.flatnonzero(run.valid_mask())
    # every row: no stack reaches back, and the last row is a terminal (no next row needed)
    assert len(valid) == 27
    batch = run.get(valid)
    for i, row in enumerate(valid):
        e, t, action, reward, terminal = reference[row]
        np.testing.assert_array_equal(batch["state"][i], grid(e, t))
        assert (batch["action"][i], batch["reward"][i], batch["terminal"][i]) == (
            action, reward, terminal
        )  # fmt: skip
        if terminal:
            assert not batch["next_state"][i].any()
        else:
            np.testing.assert_array_equal(batch["next_state"][i], grid(e, t + 1))


def test_the_sampler_pads_narrow_grids_and_refuses_mixed_kinds(tmp_path):
    runs = []
    for name, channels in (("narrow", 4), ("wide", 7)):
        writer = data.ReplayWriter(tmp_path / name, capacity=64, frame_shape=(10, 10, channels))
        for t in range(30):
            writer.add(grid(0, t, channels), 0, 0.0, t == 29)
        writer.close()
        runs.append([data.open_run(tmp_path / name)])
    batch = data.MultiGameSampler(runs, 16, seed=0, channels=10).sample()
    assert batch["state"].shape == (16, 10, 10, 10)
    narrow = batch["state"][batch["game_id"] == 0]
    assert narrow.size and not narrow[..., 4:].any()
    ale = data.ReplayWriter(tmp_path / "ale", capacity=64)
    for t in range(20):
        ale.add(frame(0, t), 0, 0.0, t == 19)
    ale.close()
    with pytest.raises(ValueError, match="frames of different kinds"):
        data.MultiGameSampler([runs[0], [data.open_run(tmp_path / "ale")]], 8)


def test_a_grid_replay_buffer_samples_single_frame_states(tmp_path):
    writer = data.ReplayWriter(tmp_path / "run", capacity=32, frame_shape=(10, 10, 6))
    for t in range(20):
        writer.add(grid(0, t, 6), 1, 0.0, False)
    batch = writer.sample(8, np.random.default_rng(0))
    assert batch["state"].shape == batch["next_state"].shape == (8, 10, 10, 6)
    steps = batch["state"][:, 0, 1, 0]
    np.testing.assert_array_equal(batch["next_state"][:, 0, 1, 0], steps + 1)


def test_adding_a_block_writes_what_adding_row_by_row_writes(tmp_path):
    rng = np.random.default_rng(5)
    n = 100
    obs = rng.integers(0, 2, (n, 10, 10, 4), dtype=np.uint8)
    actions = rng.integers(0, 3, n).astype(np.int32)
    rewards = rng.choice([0.0, 1.0, 4.0], n).astype(np.float32)
    terminals = rng.random(n) < 0.1
    one, block = (tmp_path / "rows", tmp_path / "block")
    writer = data.ReplayWriter(one, capacity=16, frame_shape=(10, 10, 4))
    for row in zip(obs, actions, rewards, terminals, strict=True):
        writer.add(*row)
    writer.close()
    writer = data.ReplayWriter(block, capacity=16, frame_shape=(10, 10, 4))
    for start in range(0, n, 30):  # blocks that straddle checkpoints and the buffer's end
        sl = slice(start, start + 30)
        writer.add_many(obs[sl], actions[sl], rewards[sl], terminals[sl])
    writer.close()
    names = sorted(p.name for p in one.iterdir())
    assert names == sorted(p.name for p in block.iterdir()) and len(names) == 6 * 7
    for name in names:
        np.testing.assert_array_equal(fmt.read_array(one / name), fmt.read_array(block / name))


def write_grid_episodes(run_dir, rewards, last_open=False):
    """A grid run of one episode per list of rewards (the last without a terminal when
    `last_open`); frames name (episode, step)."""
    writer = data.ReplayWriter(run_dir, capacity=64, frame_shape=(10, 10, 4))
    for e, episode in enumerate(rewards):
        for t, reward in enumerate(episode):
            ends = t == len(episode) - 1 and not (last_open and e == len(rewards) - 1)
            writer.add(grid(e, t), t % 3, reward, ends)
    writer.close()
    return data.open_run(run_dir)


def test_returns_to_go_sum_each_episodes_clipped_rewards_by_hand(tmp_path):
    # episodes 0 and 1 end with a terminal; episode 2 is cut off by the end of the data
    run = write_grid_episodes(
        tmp_path / "run", [[0.0, 1.0, 3.0], [1.0, 0.0, -1.0, 1.0], [1.0, 1.0]], last_open=True
    )
    returns, finished = run.returns_to_go()
    np.testing.assert_array_equal(returns, [2, 2, 1, 1, 0, 0, 1, 2, 1])  # 3.0 clips to 1
    np.testing.assert_array_equal(finished, [True] * 7 + [False] * 2)
    # two timesteps of one finished episode: rows 0-1, 1-2 and 3-4, 4-5, 5-6
    np.testing.assert_array_equal(np.flatnonzero(run.sequence_mask(2)), [0, 1, 3, 4, 5])
    np.testing.assert_array_equal(np.flatnonzero(run.sequence_mask(4)), [3])


def test_sequences_hold_consecutive_steps_of_one_episode(tmp_path):
    rewards = [[0.0, 1.0, 0.0, 1.0, 1.0], [1.0] * 6, [0.0, 0.0, 1.0]]
    run = write_grid_episodes(tmp_path / "run", rewards)
    batch = data.SequenceSampler([[run]], 32, context=3, seed=0, channels=10).sample()
    assert batch["frames"].shape == (32, 3, 10, 10, 10) and batch["returns"].shape == (32, 3)
    assert not batch["frames"][..., 4:].any()  # a 4-channel grid padded to 10
    for frames, actions, returns, sequence_rewards in zip(
        batch["frames"], batch["action"], batch["returns"], batch["reward"], strict=True
    ):
        episodes, steps = frames[:, 0, 0, 0], frames[:, 0, 1, 0]
        assert len(set(episodes)) == 1 and list(np.diff(steps)) == [1, 1]
        e, t = int(episodes[0]), int(steps[0])
        np.testing.assert_array_equal(actions, [s % 3 for s in range(t, t + 3)])
        np.testing.assert_array_equal(sequence_rewards, rewards[e][t : t + 3])
        np.testing.assert_array_equal(returns, [sum(rewards[e][s:]) for s in range(t, t + 3)])


def test_shares_of_a_batch_put_together_are_the_whole_batch(tmp_path):
    """What processes that each sample their share of a step's batch hold together is the
    batch one process samples: transitions across games and runs, and sequences."""
    runs = []
    for g in range(3):
        for r in (1, 2):
            write_episodes(tmp_path / f"g{g}r{r}", [20 + 7 * g + r, 30], capacity=16)
        runs.append([data.open_run(tmp_path / f"g{g}r{r}") for r in (1, 2)])
    sequence_run = write_grid_episodes(tmp_path / "grid", [[0.0, 1.0] * 5, [1.0] * 9])
    samplers = [
        data.MultiGameSampler(runs, 24, n_step=3, seed=5),
        data.SequenceSampler([[sequence_run]], 24, context=3, seed=5, channels=4),
    ]
    for sampler in samplers:
        whole = sampler.batch_for_step(7, 11)
        shares = [sampler.batch_for_step(7, 11, slice(a, a + 6)) for a in range(0, 24, 6)]
        for key, value in whole.items():
            np.testing.assert_array_equal(np.concatenate([s[key] for s in shares]), value)
