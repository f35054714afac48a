"""Image encoders on (B, 84, 84, 4) float inputs in [0, 1]; each returns a (B, H, W, C) map.

- ResNet-18/34 (basic blocks) and 50/101/152 (bottleneck blocks), GroupNorm instead of
  BatchNorm (the paper's modification, Sec. 4), channels scaled by `width`.
- The IMPALA-CNN (Espeholt et al. 2018), the paper's contrasting family, scaled by `width`.
- The Nature-DQN CNN (Mnih et al. 2015), for like-for-like speed comparisons.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax.numpy as jnp

# name: (blocks per stage, bottleneck?)
RESNET_LAYOUTS: dict[str, tuple[tuple[int, ...], bool]] = {
    "resnet18": ((2, 2, 2, 2), False),
    "resnet34": ((3, 4, 6, 3), False),
    "resnet50": ((3, 4, 6, 3), True),
    "resnet101": ((3, 4, 23, 3), True),
    "resnet152": ((3, 8, 36, 3), True),
}


def scaled_channels(base: int, width: float, multiple: int = 1) -> int:
    """`base * width` rounded to a positive multiple of `multiple` (the GroupNorm groups)."""
    return max(multiple, int(round(base * width / multiple)) * multiple)


class ResNetBlock(nn.Module):
    """Basic (two 3x3) or bottleneck (1x1, 3x3, 1x1 with 4x expansion) residual block."""

    filters: int
    strides: int
    bottleneck: bool
    groups: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        conv = functools.partial(nn.Conv, use_bias=False, dtype=self.dtype)
        norm = functools.partial(nn.GroupNorm, num_groups=self.groups, dtype=self.dtype)
        out_filters = self.filters * (4 if self.bottleneck else 1)
        if self.bottleneck:
            y = nn.relu(norm()(conv(self.filters, (1, 1))(x)))
            y = nn.relu(norm()(conv(self.filters, (3, 3), self.strides)(y)))
            y = conv(out_filters, (1, 1))(y)
        else:
            y = nn.relu(norm()(conv(self.filters, (3, 3), self.strides)(x)))
            y = conv(out_filters, (3, 3))(y)
        # Zero-initialised last scale: each block starts as the identity, which keeps a
        # 100-layer network trainable from the first step.
        y = norm(scale_init=nn.initializers.zeros)(y)
        if x.shape[-1] != out_filters or self.strides != 1:
            x = norm()(conv(out_filters, (1, 1), self.strides)(x))
        return nn.relu(x + y)


class ResNet(nn.Module):
    """ResNet with GroupNorm. 84x84 input -> (B, 3, 3, C) map (C = 512 or 2048 at width 1)."""

    layout: str = "resnet18"
    width: float = 1.0
    groups: int = 4
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        stage_sizes, bottleneck = RESNET_LAYOUTS[self.layout]
        channels = functools.partial(scaled_channels, width=self.width, multiple=self.groups)
        x = nn.Conv(channels(64), (7, 7), 2, use_bias=False, dtype=self.dtype)(x)
        x = nn.relu(nn.GroupNorm(num_groups=self.groups, dtype=self.dtype)(x))
        x = nn.max_pool(x, (3, 3), strides=(2, 2), padding="SAME")
        for stage, num_blocks in enumerate(stage_sizes):
            for block in range(num_blocks):
                x = ResNetBlock(
                    filters=channels(64 * 2**stage),
                    strides=2 if stage > 0 and block == 0 else 1,
                    bottleneck=bottleneck,
                    groups=self.groups,
                    dtype=self.dtype,
                )(x)
        return x


class ImpalaCNN(nn.Module):
    """IMPALA-CNN: three stages of conv, max-pool and two residual blocks (16, 32, 32 x width)."""

    width: float = 1.0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        for base in (16, 32, 32):
            filters = scaled_channels(base, self.width)
            x = nn.Conv(filters, (3, 3), dtype=self.dtype)(x)
            x = nn.max_pool(x, (3, 3), strides=(2, 2), padding="SAME")
            for _ in range(2):
                y = nn.Conv(filters, (3, 3), dtype=self.dtype)(nn.relu(x))
                x = x + nn.Conv(filters, (3, 3), dtype=self.dtype)(nn.relu(y))
        return nn.relu(x)


class NatureCNN(nn.Module):
    """The DQN encoder of Mnih et al. (2015): 84x84 -> (B, 7, 7, 64 x width)."""

    width: float = 1.0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        for base, kernel, stride in ((32, 8, 4), (64, 4, 2), (64, 3, 1)):
            filters = scaled_channels(base, self.width)
            x = nn.relu(nn.Conv(filters, (kernel, kernel), stride, "VALID", dtype=self.dtype)(x))
        return x


def make_encoder(name: str, width: float, groups: int, dtype, module_name: str) -> nn.Module:
    """The encoder module `name` (one of `configs.ENCODERS`)."""
    if name in RESNET_LAYOUTS:
        return ResNet(name, width, groups, dtype, name=module_name)
    if name == "impala":
        return ImpalaCNN(width, dtype, name=module_name)
    if name == "nature":
        return NatureCNN(width, dtype, name=module_name)
    raise ValueError(
        f"unknown encoder {name!r}; valid: {', '.join(RESNET_LAYOUTS)}, impala, nature"
    )
