"""The DQN Replay Dataset: read and write its on-disk format, sample multi-game batches, and the
play loop that makes new runs given a behaviour policy.

Imports no flax (jax only to draw batches inside a jitted loop, `in_memory`): learned
behaviour policies live in `scaledql.agents` and reach `collect` and
`collect_missing` as objects or factories.
"""

from scaledql.data.collect import (
    Policy,
    RandomPolicy,
    clipped_episode_returns,
    collect,
    dataset_stats,
    final_action_shares,
    read_log,
)
from scaledql.data.datasets import (
    behaviour_returns,
    collect_missing,
    dataset_root,
    describe,
    missing_runs,
    open_dataset,
    recipe,
)
from scaledql.data.format import DataFormatError
from scaledql.data.in_memory import PackedTransitions, check_fits, pack_transitions, sample_packed
from scaledql.data.run import RunData, cache_root, open_run
from scaledql.data.sampler import MultiGameSampler, Prefetcher, SequenceSampler
from scaledql.data.subsets import open_game_runs, open_subset, parse_subset, run_dir
from scaledql.data.writer import ReplayWriter

__all__ = [
    "DataFormatError",
    "MultiGameSampler",
    "PackedTransitions",
    "Policy",
    "Prefetcher",
    "RandomPolicy",
    "ReplayWriter",
    "RunData",
    "SequenceSampler",
    "behaviour_returns",
    "cache_root",
    "check_fits",
    "clipped_episode_returns",
    "collect",
    "collect_missing",
    "dataset_root",
    "dataset_stats",
    "final_action_shares",
    "describe",
    "missing_runs",
    "open_dataset",
    "open_game_runs",
    "open_run",
    "open_subset",
    "pack_transitions",
    "parse_subset",
    "read_log",
    "recipe",
    "run_dir",
    "sample_packed",
]
