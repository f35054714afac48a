"""Checkpoints of a run's train state: where they live, and reading their parameters back.

A run keeps its orbax checkpoints in WORKDIR/checkpoints; by default WORKDIR is the cache's
train/CONFIG_HASH, so a config always finds its own checkpoints again.
"""

from __future__ import annotations

import pathlib

import jax
import orbax.checkpoint as ocp

from scaledql import configs, learner, networks
from scaledql.configs import Config
from scaledql.data import cache_root


def default_workdir(config: Config) -> pathlib.Path:
    """Where `scaledql train` keeps a config's checkpoints: the cache, by config hash."""
    return cache_root() / "train" / configs.config_hash(config)


def manager(workdir: pathlib.Path, create: bool = True) -> ocp.CheckpointManager:
    """The orbax manager of WORKDIR/checkpoints, keeping the last two checkpoints."""
    options = ocp.CheckpointManagerOptions(max_to_keep=2, create=create)
    return ocp.CheckpointManager(pathlib.Path(workdir).resolve() / "checkpoints", options=options)


def abstract_state(config: Config) -> learner.TrainState:
    """The shapes and dtypes of `config`'s train state, allocating nothing: what a checkpoint
    is restored into, whole on this process's first device, whatever devices and processes
    wrote it (a run of a TPU pod slice read on a laptop)."""
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    shapes = jax.eval_shape(
        lambda: learner.create_train_state(config, networks.init_params(config, jax.random.key(0)))
    )
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device), shapes)


def latest_step(workdir: pathlib.Path) -> int | None:
    """The step of the latest checkpoint in WORKDIR/checkpoints, or None where there is none."""
    if not (pathlib.Path(workdir) / "checkpoints").is_dir():
        return None
    with manager(workdir, create=False) as checkpoints:
        return checkpoints.latest_step()


def load_params(config: Config, workdir: pathlib.Path | None = None, step: int | None = None):
    """The online parameters of a checkpoint (the latest unless `step` is given)."""
    workdir = pathlib.Path(workdir or default_workdir(config))
    missing = FileNotFoundError(
        f"{workdir.resolve() / 'checkpoints'} holds no checkpoint; train first: "
        f"{configs.command(config)}"
    )
    if not (workdir / "checkpoints").is_dir():
        raise missing
    with manager(workdir, create=False) as checkpoints:
        step = checkpoints.latest_step() if step is None else step
        if step is None:
            raise missing
        restored = checkpoints.restore(step, args=ocp.args.StandardRestore(abstract_state(config)))
        return restored.params
