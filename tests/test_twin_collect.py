"""The twin's jitted DQN collector: its run reads back through scaledql.data as logged, and a
killed collection resumes to exactly the files of an uninterrupted one."""

import warnings

import numpy as np
import pytest

from scaledql import configs, data, records
from scaledql.agents import minatar_dqn
from scaledql.data import format as fmt


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALEDQL_CACHE", str(tmp_path / "cache"))


def test_a_collected_run_reads_back_with_its_rows_returns_and_terminals(tmp_path):
    collection = minatar_dqn.collect(
        "minatar/Breakout", 2500, tmp_path / "run", capacity=1000, seed=3, progress=False
    )
    log = collection.log
    run = data.open_run(tmp_path / "run")
    assert run.frame_shape == (10, 10, 4) and run.stack_size == 1
    # one row a frame (no padding with one frame a state), checkpoints of 1,000 rows
    assert run.num_rows == log["final_add_count"] == 2500
    assert [c.add_count for c in run.checkpoints] == [999, 1999, 2500]
    episodes = log["episodes"]
    ends = np.flatnonzero(run.terminal)
    assert len(ends) == len(episodes) and ends[-1] + 1 == episodes[-1]["frames"]
    # Breakout's rewards are 0 or 1, so the clipped rows sum to the logged returns
    starts = np.concatenate([[0], ends[:-1] + 1])
    by_rows = [float(run.reward[s : e + 1].sum()) for s, e in zip(starts, ends, strict=True)]
    assert by_rows == [e["return"] for e in episodes]
    assert [e["length"] for e in episodes] == list(ends - starts + 1)
    # every observation is a 0/1 grid with the paddle on the bottom row
    frames = run.frames(np.arange(run.num_rows))
    assert set(np.unique(frames)) <= {0, 1} and frames[:, 9, :, 0].sum(axis=1).min() == 1

    # a finished collection is found again, not extended
    def stamps():  # the replay files and the log
        files = [*(tmp_path / "run").glob("*.gz"), tmp_path / "run" / "collection.json"]
        return {f.name: f.stat().st_mtime_ns for f in files}

    before = stamps()
    again = minatar_dqn.collect(
        "minatar/Breakout", 2500, tmp_path / "run", capacity=1000, seed=3, progress=False
    )
    assert again.log == log
    assert stamps() == before
    with pytest.raises(ValueError, match="finished collection of 2,500 frames, not 3,000"):
        minatar_dqn.collect("minatar/Breakout", 3000, tmp_path / "run", capacity=1000, seed=3)
    summary = minatar_dqn.summary(collection, bins=5)
    assert [row["frames"] for row in summary["learning_curve"]] == [500, 1000, 1500, 2000, 2500]
    assert sum(row["episodes"] for row in summary["learning_curve"]) == len(episodes)


class Killed(Exception):
    pass


@pytest.mark.slow
def test_a_killed_collection_resumes_to_the_same_files(tmp_path, monkeypatch):
    settings = {"capacity": 1000, "seed": 4, "progress": False}
    minatar_dqn.collect("minatar/Asterix", 3500, tmp_path / "whole", **settings)
    real, calls = data.ReplayWriter.add_many, []

    def dies_on_the_third_block(self, *args):
        calls.append(1)
        if len(calls) == 3:  # after checkpoint 1 (add count 1999), before checkpoint 2
            raise Killed
        return real(self, *args)

    monkeypatch.setattr(data.ReplayWriter, "add_many", dies_on_the_third_block)
    with pytest.raises(Killed):
        minatar_dqn.collect("minatar/Asterix", 3500, tmp_path / "killed", **settings)
    monkeypatch.setattr(data.ReplayWriter, "add_many", real)
    resumed = minatar_dqn.collect("minatar/Asterix", 3500, tmp_path / "killed", **settings)
    assert resumed.log["complete"]
    names = sorted(p.name for p in (tmp_path / "whole").glob("*.gz"))
    assert names == sorted(p.name for p in (tmp_path / "killed").glob("*.gz"))
    for name in names:
        np.testing.assert_array_equal(
            fmt.read_array(tmp_path / "whole" / name), fmt.read_array(tmp_path / "killed" / name)
        )


def test_a_collection_that_does_not_reproduce_the_stored_summary_leaves_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALEDQL_COLLECTIONS", str(tmp_path / "collections"))
    summary = {"settings": {"seed": 1}, "frames": 100, "episodes": 7, "learning_curve": [],
               "random_returns": [0.0], "final_returns": [1.0]}  # fmt: skip
    first = records.write_collection(summary, "r", "minatar/Breakout", 1, "scaledql collect a")
    # the same data again (another policy evaluation, another command): stored anew
    again = records.write_collection(
        {**summary, "final_returns": [2.0]}, "r", "minatar/Breakout", 1, "scaledql collect b"
    )
    assert again["provenance"]["command"] == "scaledql collect b"
    # other episodes: the stored summary stays, and the warning names the file and the field
    path = records.collection_path("r", "minatar/Breakout", 1)
    with pytest.warns(UserWarning, match=r"does not reproduce .*run1.json.*differ in episodes"):
        kept = records.write_collection({**summary, "episodes": 8}, "r", "minatar/Breakout", 1, "c")
    assert kept == records.load_collection("r", "minatar/Breakout", 1) == again
    assert path.exists() and first["episodes"] == 7
    # an unfinished collection is checked on the stretches it has played, and never stored
    curve = [{"frames": 50, "episodes": 4, "mean_return": 0.5}] * 2
    stored = records.write_collection({**summary, "learning_curve": curve}, "r", "g", 1, "d")
    partial = {**summary, "episodes": 4, "learning_curve": curve[:1], "complete": False}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert records.write_collection(partial, "r", "g", 1, "e") == stored
    assert records.write_collection(partial, "r", "other", 1, "e") is None
    assert not records.collection_path("r", "other", 1).exists()
    moved = [{"frames": 50, "episodes": 3, "mean_return": 0.5}]
    with pytest.warns(UserWarning, match="learning_curve; first at frame 50: 4 episodes with"):
        assert records.write_collection({**partial, "learning_curve": moved}, "r", "g", 1, "e")


def test_a_collection_stopped_at_its_first_checkpoints_serves_initial_and_resumes(tmp_path):
    """initial:X needs only a run's first checkpoints: collected that far, the run serves it
    (and nothing that reads more), is no longer missing for it, and resumes to the files of an
    uninterrupted collection."""
    settings = {"capacity": 1000, "seed": 3, "progress": False}
    whole = tmp_path / "whole"
    whole_run = minatar_dqn.collect("minatar/Breakout", 4500, whole, **settings)
    config = configs.override(
        configs.preset("twin-smoke"),
        ["games=minatar/Breakout", "data.runs=3", "data.steps_per_game=4500",
         "data.capacity=1000", f"data.root={tmp_path / 'root'}", "data.subset=initial:50"],
    )  # fmt: skip
    assert data.missing_runs(config) == [("minatar/Breakout", 3)]
    calls = []

    def collect_run(game, run, out_dir, checkpoints):
        calls.append((game, run, checkpoints))
        minatar_dqn.collect(game, 4500, out_dir, checkpoints=checkpoints, **settings)

    data.collect_missing(config, collect_run)
    partial = data.run_dir(tmp_path / "root", "minatar/Breakout", 3)
    # found again, not extended; its summary holds the stretches played so far, as they were
    # in the uninterrupted run
    stopped = minatar_dqn.collect("minatar/Breakout", 4500, partial, checkpoints=2, **settings)
    head = minatar_dqn.summary(stopped, bins=9)
    assert not head["complete"] and len(head["learning_curve"]) == 3  # 1,999 of 4,500 frames
    whole_curve = minatar_dqn.summary(whole_run, bins=9)["learning_curve"]
    assert head["learning_curve"] == whole_curve[:3]
    # 4 full checkpoints of 1,000 rows in a run of 4,500 frames: initial:50 reads 2
    assert calls == [("minatar/Breakout", 3, 2)]
    assert fmt.find_suffixes(partial) == [0, 1] and not data.read_log(partial)["complete"]
    assert data.missing_runs(config) == []
    for subset in ("all", "uniform:10", "initial:75"):
        assert data.missing_runs(configs.override(config, [f"data.subset={subset}"]))
        with pytest.raises(data.DataFormatError, match=rf"first 2 of the 4 checkpoints.*{subset}"):
            data.open_subset(partial, subset)
    opened = data.open_subset(partial, "initial:50")
    reference = data.open_subset(whole, "initial:50")
    assert opened.num_rows == reference.num_rows == 1999
    np.testing.assert_array_equal(opened.action, reference.action)

    minatar_dqn.collect("minatar/Breakout", 4500, partial, **settings)
    names = sorted(p.name for p in whole.glob("*.gz"))
    assert names == sorted(p.name for p in partial.glob("*.gz"))
    for name in names:
        np.testing.assert_array_equal(fmt.read_array(whole / name), fmt.read_array(partial / name))
