"""Image encoders on (B, H, W, C) float inputs in [0, 1]; each returns a (B, h, w, c) map.

Inputs are ALE frame stacks (84, 84, 4) or MinAtar object grids (10, 10, 10).

- ResNet-18/34 (basic blocks) and 50/101/152 (bottleneck blocks), GroupNorm instead of
  BatchNorm (the paper's modification, Sec. 4), channels scaled by `width`. On an 84x84 input
  the stem is ImageNet's 7x7 stride-2 convolution and 3x3 max-pool; a grid smaller than
  `GRID_SIZE` keeps every cell instead (a 3x3 stride-1 stem, no pool), since the ImageNet stem
  would shrink 10x10 to 3x3 before the first block.
- On a grid every convolution is a `GridConv`: the same SAME-padded convolution computed as one
  matmul over the input's patches, because XLA:CPU runs small convolutions inside a jitted loop
  (`lax.scan`, `lax.while_loop`: the twin's collector, training several steps a call, evaluation)
  several times slower than a matmul (measured on 2 cores, ResNet-18 at 1/4 width on 10x10: the
  gradient of a batch of 64 in a scan 85 ms a step with `nn.Conv`, 10 ms with patches; a forward
  pass of a batch of 100, 40 ms against 9.5 ms).
- The IMPALA-CNN (Espeholt et al. 2018), the paper's contrasting family, scaled by `width`.
- The Nature-DQN CNN (Mnih et al. 2015), for like-for-like speed comparisons on ALE.
- The MinAtar DQN encoder (Young & Tian 2019; Dopamine's MinAtar network): one 3x3 convolution
  of 16 x width filters, the twin's behaviour policy.
- A Vision Transformer (Dosovitskiy et al., 2021) of ViT-Base's depth, the encoder the paper's
  MAE baseline pre-trains: its tokens, one per patch, come back as the (B, h, w, c) map.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from scaledql.configs import VIT_BASE_WIDTH, VIT_HEAD_SIZE
from scaledql.networks.attention import Block, patchify

GRID_SIZE = 32  # inputs narrower than this are object grids, not ALE frames


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, tuple[int, int]]:
    """(output size, (padding before, after)) of a SAME convolution, as XLA pads it."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, (total // 2, total - total // 2)


def patch_conv(x: jnp.ndarray, kernel: jnp.ndarray, stride: int = 1) -> jnp.ndarray:
    """SAME convolution of x (B, H, W, C) by kernel (kh, kw, C, F) as one matmul over the
    (B, h, w, kh * kw * C) patches -> (B, h, w, F), h = ceil(H / stride)."""
    kh, kw, channels, features = kernel.shape
    (h, pad_h), (w, pad_w) = (
        _same_padding(x.shape[1], kh, stride),
        _same_padding(x.shape[2], kw, stride),
    )
    padded = jnp.pad(x, ((0, 0), pad_h, pad_w, (0, 0)))
    patches = jnp.concatenate(
        [
            padded[:, i : i + (h - 1) * stride + 1 : stride, j : j + (w - 1) * stride + 1 : stride]
            for i in range(kh)
            for j in range(kw)
        ],
        axis=-1,
    )  # ordered like the kernel's (kh, kw, C) axes
    return patches @ kernel.reshape(kh * kw * channels, features)


class GridConv(nn.Module):
    """`nn.Conv` with SAME padding (same parameters, same result) computed by `patch_conv`."""

    features: int
    kernel_size: tuple[int, int] = (3, 3)
    strides: int = 1
    use_bias: bool = True
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        shape = (*self.kernel_size, x.shape[-1], self.features)
        kernel = self.param("kernel", nn.initializers.lecun_normal(), shape)
        y = patch_conv(x.astype(self.dtype), kernel.astype(self.dtype), self.strides)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,)).astype(self.dtype)
        return y


# name: (blocks per stage, bottleneck?)
RESNET_LAYOUTS: dict[str, tuple[tuple[int, ...], bool]] = {
    # shallow layouts for the twin's grids, named as ResNet-18 is (weighted layers: the stem,
    # two per basic block, the readout)
    "resnet4": ((1,), False),
    "resnet6": ((1, 1), False),
    "resnet10": ((1, 1, 1, 1), False),
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
    grid: bool = False  # the network's input is an object grid: GridConv
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        conv = functools.partial(
            GridConv if self.grid else nn.Conv, use_bias=False, dtype=self.dtype
        )
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
    """ResNet with GroupNorm. 84x84 input -> (B, 3, 3, C) map (C = 512 or 2048 at width 1);
    10x10 grid -> (B, 2, 2, C)."""

    layout: str = "resnet18"
    width: float = 1.0
    groups: int = 4
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        stage_sizes, bottleneck = RESNET_LAYOUTS[self.layout]
        channels = functools.partial(scaled_channels, width=self.width, multiple=self.groups)
        grid = x.shape[1] < GRID_SIZE
        if not grid:
            x = nn.Conv(channels(64), (7, 7), 2, use_bias=False, dtype=self.dtype)(x)
            x = nn.relu(nn.GroupNorm(num_groups=self.groups, dtype=self.dtype)(x))
            x = nn.max_pool(x, (3, 3), strides=(2, 2), padding="SAME")
        else:
            x = GridConv(channels(64), (3, 3), 1, use_bias=False, dtype=self.dtype)(x)
            x = nn.relu(nn.GroupNorm(num_groups=self.groups, dtype=self.dtype)(x))
        for stage, num_blocks in enumerate(stage_sizes):
            for block in range(num_blocks):
                x = ResNetBlock(
                    filters=channels(64 * 2**stage),
                    strides=2 if stage > 0 and block == 0 else 1,
                    bottleneck=bottleneck,
                    groups=self.groups,
                    grid=grid,
                    dtype=self.dtype,
                )(x)
        return x


class ImpalaCNN(nn.Module):
    """IMPALA-CNN: three stages of conv, max-pool and two residual blocks (16, 32, 32 x width)."""

    width: float = 1.0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        conv = GridConv if x.shape[1] < GRID_SIZE else nn.Conv
        for base in (16, 32, 32):
            filters = scaled_channels(base, self.width)
            x = conv(filters, (3, 3), dtype=self.dtype)(x)
            x = nn.max_pool(x, (3, 3), strides=(2, 2), padding="SAME")
            for _ in range(2):
                y = conv(filters, (3, 3), dtype=self.dtype)(nn.relu(x))
                x = x + conv(filters, (3, 3), dtype=self.dtype)(nn.relu(y))
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


class MinAtarDQN(nn.Module):
    """The MinAtar DQN encoder: one 3x3 convolution of 16 x width filters, ReLU (10x10 kept).

    The convolution is a `patch_conv` (the twin's collector runs this network inside
    `lax.scan`; measured on 2 cores, the gradient of a batch of 32 grids: 2.75 ms a step with
    `nn.Conv` in a scan, 0.27 ms called alone, 0.15 ms as patches). Its parameters are this
    module's own, as the collected runs' saved policies hold them.
    """

    width: float = 1.0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        filters, channels = scaled_channels(16, self.width), x.shape[-1]
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (3, 3, channels, filters))
        bias = self.param("bias", nn.initializers.zeros, (filters,))
        out = patch_conv(x.astype(self.dtype), kernel.astype(self.dtype))
        return nn.relu(out + bias.astype(self.dtype))


VIT_DEPTH = 12  # ViT-Base's transformer blocks


def vit_patch(height: int) -> int:
    """The side of a ViT's square patches: 14 on ALE's 84x84 stacks (36 tokens), 2 on the
    twin's 10x10 grids (25 tokens)."""
    return 14 if height >= GRID_SIZE else 2


class ViT(nn.Module):
    """ViT-Base's 12 blocks with tokens `VIT_BASE_WIDTH` x `width` wide (one head per 64), over
    the `vit_patch` patches of its input, each linearly embedded with a learned position.
    Returns the tokens as a (B, h, w, d) map; with `keep` (B, K) patch indices, only those
    patches are encoded (a masked autoencoder's visible ones) and it returns (B, K, d)."""

    width: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array, keep: jax.Array | None = None) -> jax.Array:
        patch = vit_patch(x.shape[1])
        rows, columns = x.shape[1] // patch, x.shape[2] // patch
        d = int(round(VIT_BASE_WIDTH * self.width))
        tokens = nn.Dense(d, name="patch_embedding")(patchify(x.astype(jnp.float32), patch))
        tokens = tokens + self.param("position", nn.initializers.normal(0.02), (rows * columns, d))
        if keep is not None:
            tokens = jnp.take_along_axis(tokens, keep[..., None], axis=1)
        for i in range(VIT_DEPTH):
            tokens = Block(d // VIT_HEAD_SIZE, name=f"block_{i}")(tokens)
        tokens = nn.LayerNorm(name="norm")(tokens)
        return tokens if keep is not None else tokens.reshape(-1, rows, columns, d)


def make_encoder(name: str, width: float, groups: int, dtype, module_name: str) -> nn.Module:
    """The encoder module `name` (one of `configs.ENCODERS`)."""
    if name in RESNET_LAYOUTS:
        return ResNet(name, width, groups, dtype, name=module_name)
    if name == "impala":
        return ImpalaCNN(width, dtype, name=module_name)
    if name == "nature":
        return NatureCNN(width, dtype, name=module_name)
    if name == "minatar_dqn":
        return MinAtarDQN(width, dtype, name=module_name)
    if name == "vit":  # computed in float32 whatever network.dtype says
        return ViT(width, name=module_name)
    raise ValueError(
        f"unknown encoder {name!r}; valid: {', '.join(RESNET_LAYOUTS)}, impala, nature, "
        "minatar_dqn, vit"
    )
