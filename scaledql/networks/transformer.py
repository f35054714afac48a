"""The multi-game Decision Transformer (Lee et al., 2022): one causal transformer over the tokens
of a few consecutive timesteps, trained by supervised learning on the same offline data.

Each of T timesteps contributes P + 3 tokens, in this order:

    observation patches o^1 .. o^P, return-to-go R, action a, reward r

Frames are cut into square patches, each linearly embedded (as a VALID convolution whose stride
is its kernel) with a learned per-patch position; returns, actions and rewards are discrete
tokens with their own embedding tables; a learned position embedding over the whole sequence
follows. As in Lee et al.'s released model only the first timestep's return token is read
("single return token": the others are masked out of the inputs and of attention), since at
evaluation that is the one return the agent chooses.

Every token attends to itself and the tokens before it, never a later one (`causal_mask`).
Predictions are read one token early: the return from the last patch token of its timestep,
the action from the return token, the reward from the action token.
"""

from __future__ import annotations

import typing

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from scaledql import envs
from scaledql.configs import DecisionTransformerConfig
from scaledql.networks.attention import Block, patchify
from scaledql.networks.encoders import GRID_SIZE

NUM_REWARD_TOKENS = 3  # the sign of a reward: 0 none, 1 positive, 2 negative


class DTOutput(typing.NamedTuple):
    """What the Decision Transformer returns for B sequences of T timesteps.

    return_logits: (B, T, R) over the return tokens `return_min .. return_max`.
    action_logits: (B, T, A) over the games' actions (padding actions included).
    reward_logits: (B, T, 3) over the reward signs (`reward_tokens`).
    """

    return_logits: jax.Array
    action_logits: jax.Array
    reward_logits: jax.Array


def frame_shape(games) -> tuple[int, int, int]:
    """(H, W, C) of one timestep's observation: a single 84x84 ALE frame (the sequence holds
    the history a frame stack would), or the twin's padded 10x10 grid."""
    height, width, channels = envs.state_shape(games)
    return (height, width, channels if envs.check_family(games) == "minatar" else 1)


def tokens_per_step(dt: DecisionTransformerConfig, frame: tuple[int, ...]) -> int:
    """P + 3: the patches of a frame, then its return, action and reward tokens."""
    return (frame[0] // dt.patch_size) * (frame[1] // dt.patch_size) + 3


def causal_mask(length: int) -> np.ndarray:
    """(L, L) bool: token i may attend to token j exactly when j <= i."""
    return np.tril(np.ones((length, length), bool))


def return_tokens(returns: jax.Array, dt: DecisionTransformerConfig) -> jax.Array:
    """Returns-to-go (any shape, in clipped rewards) as int32 tokens 0 .. max - min, clipped to
    the range (Lee et al.'s encoding)."""
    clipped = jnp.clip(jnp.round(returns), dt.return_min, dt.return_max)
    return (clipped - dt.return_min).astype(jnp.int32)


def reward_tokens(rewards: jax.Array) -> jax.Array:
    """Rewards (any shape) as int32 sign tokens: 0 none, 1 positive, 2 negative."""
    return jnp.where(rewards > 0, 1, jnp.where(rewards < 0, 2, 0)).astype(jnp.int32)


class DecisionTransformer(nn.Module):
    """The Decision Transformer over `games`, shaped by `dt`. Its action head has the largest
    action count among the games; the caller masks each game's padding actions."""

    games: tuple[str, ...]
    dt: DecisionTransformerConfig

    @property
    def max_actions(self) -> int:
        return max(envs.num_actions(game) for game in self.games)

    @property
    def num_returns(self) -> int:
        return self.dt.return_max - self.dt.return_min + 1

    @nn.compact
    def __call__(
        self,
        frames: jax.Array,
        returns: jax.Array,
        actions: jax.Array,
        rewards: jax.Array,
        train: bool = False,
    ) -> DTOutput:
        """frames: (B, T, H, W, C) uint8 (`frame_shape`); returns: (B, T) returns-to-go (only
        [:, 0] is read); actions: (B, T) int32; rewards: (B, T) float32."""
        batch, steps, height = frames.shape[:3]
        d, p = self.dt.d_model, self.dt.patch_size
        x = frames.astype(jnp.float32)
        if height >= GRID_SIZE:
            x = x / 255.0  # ALE pixels; the twin's grids are already in {0, 1}
        patches = nn.Dense(d, name="patch_embedding")(patchify(x, p))  # (B, T, P, d)
        patches = patches + self.param(
            "patch_position", nn.initializers.normal(0.02), (patches.shape[2], d)
        )
        embed = nn.initializers.normal(0.02)
        ret = nn.Embed(self.num_returns, d, embedding_init=embed, name="return_embedding")(
            return_tokens(returns, self.dt)
        )
        single_return = (jnp.arange(steps) == 0)[None, :, None]  # (1, T, 1)
        ret = ret * single_return
        act = nn.Embed(self.max_actions, d, embedding_init=embed, name="action_embedding")(actions)
        rew = nn.Embed(NUM_REWARD_TOKENS, d, embedding_init=embed, name="reward_embedding")(
            reward_tokens(rewards)
        )
        per_step = patches.shape[2] + 3
        tokens = jnp.concatenate([patches, ret[:, :, None], act[:, :, None], rew[:, :, None]], 2)
        tokens = tokens.reshape(batch, steps * per_step, d)
        tokens = tokens + self.param(
            "position", nn.initializers.normal(0.02), (steps * per_step, d)
        )
        tokens = nn.Dropout(self.dt.dropout, deterministic=not train)(tokens)

        # the later return tokens are no one's keys; a query always keeps itself
        keep = np.ones((steps, per_step), bool)
        keep[1:, per_step - 3] = False
        keys = keep.reshape(-1)
        mask = causal_mask(steps * per_step) & (
            keys[None, :] | np.eye(steps * per_step, dtype=bool)
        )
        for i in range(self.dt.num_layers):
            tokens = Block(self.dt.num_heads, self.dt.dropout, name=f"block_{i}")(
                tokens, jnp.asarray(mask)[None, None], train
            )
        out = nn.LayerNorm(name="norm_out")(tokens).reshape(batch, steps, per_step, d)
        return DTOutput(
            return_logits=nn.Dense(self.num_returns, name="return_head")(out[:, :, -4]),
            action_logits=nn.Dense(self.max_actions, name="action_head")(out[:, :, -3]),
            reward_logits=nn.Dense(NUM_REWARD_TOKENS, name="reward_head")(out[:, :, -2]),
        )


def expert_return_logits(return_logits: jax.Array, expert_weight: float) -> jax.Array:
    """Logits (..., R) of Lee et al.'s expert-return distribution, P(R | expert) proportional to
    P(R) exp(kappa (R - min) / (max - min)): the model's return distribution tilted towards its
    high returns by kappa = `expert_weight` (0 leaves it as it is)."""
    tilt = jnp.linspace(0.0, 1.0, return_logits.shape[-1])
    return jax.nn.log_softmax(return_logits, axis=-1) + expert_weight * tilt
