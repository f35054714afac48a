"""The pieces every transformer here is built from: cutting frames into patch tokens, and the
pre-LayerNorm transformer block (GPT-2's and ViT's)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


def patchify(x: jax.Array, patch: int) -> jax.Array:
    """(..., H, W, C) -> (..., H/p * W/p, p * p * C): the square patches of side `patch`, row by
    row, each flattened in (row, column, channel) order."""
    *lead, height, width, channels = x.shape
    x = x.reshape(*lead, height // patch, patch, width // patch, patch, channels)
    x = jnp.moveaxis(x, -4, -3)  # (..., H/p, W/p, p, p, C)
    return x.reshape(*lead, (height // patch) * (width // patch), patch * patch * channels)


class Block(nn.Module):
    """A pre-LayerNorm transformer block: self-attention (under `mask` where given), then a 4x
    GELU MLP, each added back to the residual stream after dropout."""

    num_heads: int
    dropout: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array | None = None, train: bool = False):
        width = x.shape[-1]
        attended = nn.MultiHeadDotProductAttention(num_heads=self.num_heads, name="attention")(
            nn.LayerNorm(name="norm_1")(x), mask=mask
        )
        x = x + nn.Dropout(self.dropout, deterministic=not train)(attended)
        hidden = nn.gelu(nn.Dense(4 * width, name="mlp_in")(nn.LayerNorm(name="norm_2")(x)))
        out = nn.Dense(width, name="mlp_out")(hidden)
        return x + nn.Dropout(self.dropout, deterministic=not train)(out)
