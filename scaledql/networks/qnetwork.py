"""The multi-game Q-network: encoder, readout, shared MLP, feature normalisation, one head per game.

Figure 3 of the paper: a shared encoder and feed-forward layers, then a separate linear layer per
game. Every head has `max_actions` outputs (the largest minimal action set among the games); the
outputs beyond a game's own action count are padding that `action_masks` marks invalid, so they
never win an argmax nor enter a logsumexp.

Inputs are ALE stacks (B, 84, 84, 4) in [0, 255], scaled to [0, 1], or MinAtar twin grids
(B, 10, 10, 10) in {0, 1}, used as they are. A twin game with fewer than 10 object channels
(Breakout and Asterix have 4, Space Invaders 6, Freeway 7) arrives zero-padded to Seaquest's 10
(the sampler and the twin's evaluation pad), so one encoder reads every game and transfers
between game sets.
"""

from __future__ import annotations

import typing

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from scaledql import envs
from scaledql.configs import NetworkConfig
from scaledql.networks.encoders import GRID_SIZE, make_encoder


class QOutput(typing.NamedTuple):
    """What the Q-network returns for a batch of B states.

    q_values: (B, A) float32, the expected Q-value of every action (padding actions included).
    logits: (B, A, K) float32 C51 logits over the K atoms, or None for scalar heads.
    features: (B, D) the vector fed to the heads (unit norm when feature_norm is on).
    """

    q_values: jax.Array
    logits: jax.Array | None
    features: jax.Array


class SpatialEmbedding(nn.Module):
    """Learned spatial embedding: (B, H, W, C) -> (B, C * F), sum over H, W of map x kernel.

    Keeps where things are on the screen, unlike global pooling, with far fewer parameters than
    flattening into a dense layer (Sec. 4; the (H, W, C, F) form follows PTR's encoder).
    """

    num_features: int = 8
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        _, h, w, c = x.shape
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (h, w, c, self.num_features), jnp.float32
        )
        out = jnp.einsum("bhwc,hwcf->bcf", x, kernel.astype(self.dtype))
        return out.reshape(x.shape[0], c * self.num_features)


def l2_normalize(x: jax.Array, eps: float = 1e-12) -> jax.Array:
    """x / ||x||_2 along the last axis (feature normalisation, after DR3)."""
    return x * jax.lax.rsqrt(jnp.sum(jnp.square(x), axis=-1, keepdims=True) + eps)


class QNetwork(nn.Module):
    """Q-network over `games`, shaped by `network` (see `NetworkConfig`, whose defaults are the
    only ones). `num_atoms` = 0 gives scalar Q heads (MSE variant and BC); otherwise the C51
    support is `num_atoms` atoms on [v_min, v_max]."""

    games: tuple[str, ...]
    network: NetworkConfig
    num_atoms: int
    v_min: float
    v_max: float

    @property
    def dtype(self) -> jnp.dtype:
        return jnp.dtype(self.network.dtype)

    @property
    def max_actions(self) -> int:
        return max(envs.num_actions(game) for game in self.games)

    @property
    def support(self) -> jax.Array:
        """(K,) the fixed C51 return support."""
        return jnp.linspace(self.v_min, self.v_max, self.num_atoms)

    @nn.compact
    def __call__(self, frames: jax.Array, game_ids: jax.Array) -> QOutput:
        """frames: (B, 84, 84, 4) uint8 in [0, 255], or (B, 10, 10, 10) uint8 object grids in
        {0, 1}; game_ids: (B,) int index into `games`."""
        grid = frames.shape[1] < GRID_SIZE
        x = frames.astype(self.dtype) if grid else frames.astype(self.dtype) / 255.0
        net = self.network
        x = make_encoder(net.encoder, net.width, net.norm_groups, self.dtype, "encoder")(x)
        if net.readout == "spatial":
            x = SpatialEmbedding(net.spatial_features, self.dtype, name="readout")(x)
        elif net.readout == "pool":
            x = jnp.mean(x, axis=(1, 2))
        else:
            x = x.reshape(x.shape[0], -1)
        for i, size in enumerate(net.mlp_sizes):
            x = nn.relu(nn.Dense(size, dtype=self.dtype, name=f"mlp_{i}")(x))
        x = x.astype(jnp.float32)
        if net.feature_norm:
            x = l2_normalize(x)
        features = x

        per_action = max(self.num_atoms, 1)
        outputs = self.max_actions * per_action
        # One leaf per game: a batch of one game leaves the other heads with zero gradient.
        heads = jnp.stack(
            [nn.Dense(outputs, name=f"head_{game}")(features) for game in self.games], axis=1
        )  # (B, G, A * K)
        out = jnp.take_along_axis(heads, game_ids[:, None, None], axis=1)[:, 0]
        if self.num_atoms == 0:
            return QOutput(q_values=out, logits=None, features=features)
        logits = out.reshape(out.shape[0], self.max_actions, self.num_atoms)
        q_values = jnp.sum(jax.nn.softmax(logits) * self.support, axis=-1)
        return QOutput(q_values=q_values, logits=logits, features=features)


def action_masks(games: tuple[str, ...]) -> np.ndarray:
    """(G, A) bool: True where action a exists in game g's minimal action set."""
    counts = np.array([envs.num_actions(game) for game in games])
    return np.arange(counts.max())[None, :] < counts[:, None]
