"""Q-networks of the paper: ResNets with GroupNorm, IMPALA-CNN, Nature-DQN CNN, multi-game heads."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from scaledql import envs
from scaledql.configs import DISTRIBUTIONAL_LOSSES, Config
from scaledql.networks.encoders import ImpalaCNN, NatureCNN, ResNet
from scaledql.networks.qnetwork import QNetwork, QOutput, action_masks, l2_normalize

__all__ = [
    "ImpalaCNN",
    "NatureCNN",
    "QNetwork",
    "QOutput",
    "ResNet",
    "action_masks",
    "build_qnetwork",
    "is_encoder_entry",
    "transfer_encoder",
    "init_params",
    "l2_normalize",
    "param_breakdown",
    "param_count",
]


def build_qnetwork(config: Config) -> QNetwork:
    """The Q-network a config describes (scalar heads unless the loss is c51 or hl_gauss)."""
    return QNetwork(
        games=tuple(config.games),
        network=config.network,
        num_atoms=config.loss.num_atoms if config.loss.kind in DISTRIBUTIONAL_LOSSES else 0,
        v_min=config.loss.v_min,
        v_max=config.loss.v_max,
    )


def init_params(config: Config, key: jax.Array):
    """Freshly initialised parameters of `build_qnetwork(config)`."""
    frames = jnp.zeros((1, *envs.state_shape(config.games)), jnp.uint8)
    return build_qnetwork(config).init(key, frames, jnp.zeros((1,), jnp.int32))["params"]


def param_breakdown(config: Config) -> dict[str, int]:
    """Parameter counts split into encoder (with readout), shared MLP and per-game heads.

    Computed from shapes alone (`jax.eval_shape`): nothing is allocated, so it is instant even
    for the 80M-parameter `paper` network.
    """
    shapes = jax.eval_shape(lambda: init_params(config, jax.random.key(0)))
    counts = {"encoder": 0, "mlp": 0, "heads": 0}
    for name, subtree in shapes.items():
        size = sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(subtree))
        part = "heads" if name.startswith("head_") else "mlp" if name.startswith("mlp_") else None
        counts[part or "encoder"] += size
    return counts


def param_count(config: Config) -> int:
    """Total trainable parameters of the config's Q-network."""
    return sum(param_breakdown(config).values())


def is_encoder_entry(name: str) -> bool:
    """Whether a top-level parameter entry belongs to the encoder (with its readout), the part
    fine-tuning transfers, rather than to the shared MLP (`mlp_i`) or a head (`head_{game}`)."""
    return not name.startswith(("mlp_", "head_"))


def transfer_encoder(pretrained: dict, fresh: dict) -> dict:
    """`fresh` parameters with the encoder entries replaced by `pretrained`'s.

    Raises a ValueError naming the first entry whose shapes differ (a different encoder,
    width or readout) or that one side lacks.
    """
    out = dict(fresh)
    for name in (n for n in fresh if is_encoder_entry(n)):
        if name not in pretrained:
            raise ValueError(f"the pre-trained parameters have no {name!r} entry to transfer")
        theirs = jax.tree.map(jnp.shape, pretrained[name])
        mine = jax.tree.map(jnp.shape, fresh[name])
        if theirs != mine:
            raise ValueError(
                f"the pre-trained {name!r} parameters have other shapes than this network's: "
                "fine-tune with the pre-trained run's network.encoder, width and readout"
            )
        out[name] = pretrained[name]
    return out
