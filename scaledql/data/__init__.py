"""The DQN Replay Dataset: read and write its on-disk format, sample multi-game batches, collect.

Imports no flax: learned behaviour policies for collection live in `scaledql.agents`.
"""

from scaledql.data.collect import (
    RandomPolicy,
    collect,
    dataset_stats,
    episode_returns,
    read_log,
)
from scaledql.data.datasets import dataset_root, describe, ensure_collected, open_training_data
from scaledql.data.format import DataFormatError
from scaledql.data.run import RunData, cache_root, open_run
from scaledql.data.sampler import MultiGameSampler, Prefetcher
from scaledql.data.subsets import open_game_runs, open_subset, parse_subset, run_dir
from scaledql.data.writer import ReplayWriter

__all__ = [
    "DataFormatError",
    "MultiGameSampler",
    "Prefetcher",
    "RandomPolicy",
    "ReplayWriter",
    "RunData",
    "cache_root",
    "collect",
    "dataset_root",
    "describe",
    "ensure_collected",
    "dataset_stats",
    "episode_returns",
    "open_game_runs",
    "open_run",
    "open_training_data",
    "open_subset",
    "parse_subset",
    "read_log",
    "run_dir",
]
