"""The masked autoencoder (He et al., 2022) the paper's MAE baseline pre-trains: the Q-network's
ViT encoder sees a random `1 - mask_ratio` of each state's patches, a light transformer decoder
fills the hidden ones with a learned mask token and reconstructs their pixels. Only the encoder
carries over: its parameters sit under the same `encoder` entry as the Q-network's, so a
fine-tuning run takes them with `finetune.pretrained` (and `finetune.encoder=frozen`, as the
paper freezes them).
"""

from __future__ import annotations

import typing

import flax.linen as nn
import jax
import jax.numpy as jnp

from scaledql.configs import MaskedAutoencoderConfig
from scaledql.networks.attention import Block, patchify
from scaledql.networks.encoders import GRID_SIZE, ViT, vit_patch


class Reconstruction(typing.NamedTuple):
    """An MAE's output for B states of N patches of P pixel values each.

    predicted, target: (B, N, P) the decoder's pixels and the state's, in [0, 1].
    hidden: (B, N) bool, the patches the encoder did not see (the loss reads these).
    """

    predicted: jax.Array
    target: jax.Array
    hidden: jax.Array


def visible_patches(key: jax.Array, batch: int, patches: int, mask_ratio: float) -> jax.Array:
    """(B, K) int32: for each state, K = round(patches x (1 - mask_ratio)) distinct patch
    indices drawn uniformly, at least one."""
    keep = max(1, int(round(patches * (1 - mask_ratio))))
    order = jnp.argsort(jax.random.uniform(key, (batch, patches)), axis=1)
    return order[:, :keep].astype(jnp.int32)


class MaskedAutoencoder(nn.Module):
    """A ViT encoder of width `width` (as `network.encoder=vit` builds it) and the decoder of
    `mae`'s settings."""

    width: float
    mae: MaskedAutoencoderConfig

    @nn.compact
    def __call__(self, states: jax.Array, key: jax.Array) -> Reconstruction:
        """states: (B, H, W, C) uint8, ALE stacks in [0, 255] or twin grids in {0, 1}; key: the
        draw of the visible patches."""
        x = states.astype(jnp.float32)
        if states.shape[1] >= GRID_SIZE:
            x = x / 255.0
        target = patchify(x, vit_patch(states.shape[1]))  # (B, N, P)
        batch, patches, pixels = target.shape
        keep = visible_patches(key, batch, patches, self.mae.mask_ratio)
        encoded = ViT(self.width, name="encoder")(x, keep)  # (B, K, d)
        width = self.mae.decoder_width
        tokens = jnp.broadcast_to(
            self.param("mask_token", nn.initializers.normal(0.02), (width,)),
            (batch, patches, width),
        )
        rows = jnp.arange(batch)[:, None]
        tokens = tokens.at[rows, keep].set(nn.Dense(width, name="decoder_embedding")(encoded))
        tokens = tokens + self.param(
            "decoder_position", nn.initializers.normal(0.02), (patches, width)
        )
        for i in range(self.mae.decoder_layers):
            tokens = Block(self.mae.decoder_heads, name=f"decoder_block_{i}")(tokens)
        predicted = nn.Dense(pixels, name="decoder_prediction")(
            nn.LayerNorm(name="decoder_norm")(tokens)
        )
        hidden = jnp.ones((batch, patches), bool).at[rows, keep].set(False)
        return Reconstruction(predicted, target, hidden)
