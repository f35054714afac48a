"""Q-networks of the paper: ResNets with GroupNorm, IMPALA-CNN, Nature-DQN CNN, multi-game heads;
and the multi-game Decision Transformer it compares with (`loss.kind=dt`)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from scaledql import envs
from scaledql.configs import DISTRIBUTIONAL_LOSSES, Config
from scaledql.networks import transformer
from scaledql.networks.autoencoder import MaskedAutoencoder, Reconstruction
from scaledql.networks.encoders import ImpalaCNN, NatureCNN, ResNet
from scaledql.networks.qnetwork import QNetwork, QOutput, action_masks, l2_normalize
from scaledql.networks.transformer import DecisionTransformer, DTOutput

__all__ = [
    "DTOutput",
    "DecisionTransformer",
    "MaskedAutoencoder",
    "Reconstruction",
    "ImpalaCNN",
    "NatureCNN",
    "QNetwork",
    "QOutput",
    "ResNet",
    "action_masks",
    "build_autoencoder",
    "build_qnetwork",
    "build_transformer",
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


def build_autoencoder(config: Config) -> MaskedAutoencoder:
    """The masked autoencoder a `loss.kind=mae` config pre-trains (its vit encoder at
    `network.width`)."""
    return MaskedAutoencoder(width=config.network.width, mae=config.mae)


def build_transformer(config: Config) -> DecisionTransformer:
    """The Decision Transformer a `loss.kind=dt` config describes."""
    return DecisionTransformer(games=tuple(config.games), dt=config.dt)


def init_params(config: Config, key: jax.Array):
    """Freshly initialised parameters of the config's model: `build_qnetwork(config)`, or
    `build_transformer(config)` for `loss.kind=dt`, `build_autoencoder(config)` for mae."""
    states = jnp.zeros((1, *envs.state_shape(config.games)), jnp.uint8)
    if config.loss.kind == "mae":
        return build_autoencoder(config).init(key, states, jax.random.key(0))["params"]
    if config.loss.kind == "dt":
        steps = config.dt.context
        frames = jnp.zeros((1, steps, *transformer.frame_shape(config.games)), jnp.uint8)
        zeros = jnp.zeros((1, steps), jnp.int32)
        return build_transformer(config).init(key, frames, zeros, zeros, zeros)["params"]
    return build_qnetwork(config).init(key, states, jnp.zeros((1,), jnp.int32))["params"]


def param_breakdown(config: Config) -> dict[str, int]:
    """Parameter counts split into encoder (with readout), shared MLP and per-game heads; for a
    Decision Transformer, its embeddings and blocks count as encoder and its three output
    heads as heads; for a masked autoencoder, its decoder (which no other run takes) counts as
    heads.

    Computed from shapes alone (`jax.eval_shape`): nothing is allocated, so it is instant even
    for the 80M-parameter `paper` network.
    """
    shapes = jax.eval_shape(lambda: init_params(config, jax.random.key(0)))
    counts = {"encoder": 0, "mlp": 0, "heads": 0}
    for name, subtree in shapes.items():
        size = sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(subtree))
        if name.startswith(("head_", "decoder_", "mask_token")) or name.endswith("_head"):
            part = "heads"
        else:
            part = "mlp" if name.startswith("mlp_") else "encoder"
        counts[part] += size
    return counts


def param_count(config: Config) -> int:
    """Total trainable parameters of the config's Q-network."""
    return sum(param_breakdown(config).values())


def is_encoder_entry(name: str) -> bool:
    """Whether a top-level parameter entry belongs to the encoder (with its readout), the part
    fine-tuning transfers, rather than to the shared MLP (`mlp_i`) or a head (`head_{game}`)."""
    return not name.startswith(("mlp_", "head_"))


# A Decision Transformer's entries that belong to the games it plays: their minimal action
# sets give the same action index another meaning in each game.
TRANSFORMER_ACTION_ENTRIES = ("action_embedding", "action_head")


def transfer_encoder(pretrained: dict, fresh: dict) -> dict:
    """`fresh` parameters with the encoder entries replaced by `pretrained`'s: all of them from
    a Q-network, the `encoder` alone from a masked autoencoder (which has no readout: it stays
    fresh), and from a Decision Transformer every entry but its action tokens
    (`TRANSFORMER_ACTION_ENTRIES`), as a Q-network's new heads start fresh.

    Raises a ValueError naming the first entry whose shapes differ (a different encoder,
    width or readout) or that one side lacks.
    """
    out = dict(fresh)
    autoencoder = "mask_token" in pretrained
    transformer = "action_head" in fresh
    for name in fresh:
        if transformer:
            if name in TRANSFORMER_ACTION_ENTRIES:
                continue
        elif not is_encoder_entry(name) or (autoencoder and name != "encoder"):
            continue
        if name not in pretrained:
            raise ValueError(f"the pre-trained parameters have no {name!r} entry to transfer")
        theirs = jax.tree.map(jnp.shape, pretrained[name])
        mine = jax.tree.map(jnp.shape, fresh[name])
        if theirs != mine:
            raise ValueError(
                f"the pre-trained {name!r} parameters have other shapes than this network's: "
                "fine-tune with the pre-trained run's network (or dt) settings"
            )
        out[name] = pretrained[name]
    return out
