import jax
import numpy as np
import pytest

from scaledql import offline


@pytest.fixture
def own_storage(tmp_path, monkeypatch):
    """A test's own data cache, run records and collection summaries, under tmp_path."""
    for variable, folder in (
        ("SCALEDQL_CACHE", "cache"),
        ("SCALEDQL_RESULTS", "results"),
        ("SCALEDQL_COLLECTIONS", "collections"),
    ):
        monkeypatch.setenv(variable, str(tmp_path / folder))
    return tmp_path


class Killed(Exception):
    """Stands for a run killed part way."""


@pytest.fixture
def killed_and_resumed(tmp_path):
    """`check(config, runs)`: trains `config` on `runs` uninterrupted, and again killed after
    step 15 and resumed (from its step-10 checkpoint), asserts both end with the same state
    and learning curve, and returns the resumed run's `TrainResult`."""

    def check(config, runs):
        whole = offline.train_offline(config, tmp_path / "whole", runs, progress=False)

        def kill_at_15(step, metrics):
            if step == 15:
                raise Killed

        with pytest.raises(Killed):
            offline.train_offline(
                config, tmp_path / "killed", runs, progress=False, callback=kill_at_15
            )
        resumed = offline.train_offline(config, tmp_path / "killed", runs, progress=False)
        assert resumed.resumed_from == 10
        for a, b in zip(jax.tree.leaves(whole.state), jax.tree.leaves(resumed.state), strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        timeless = [[{k: v for k, v in row.items() if k != "steps_per_s"} for row in run.metrics]
                    for run in (whole, resumed)]  # fmt: skip
        assert timeless[0] == timeless[1]
        return resumed

    return check
