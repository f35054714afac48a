"""The Q-network: shapes, masking, feature norm, head isolation, every encoder at tiny width."""

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scaledql import configs, losses, networks
from scaledql.networks import encoders


def tiny(encoder="resnet18", **network):
    base = configs.preset("smoke")
    return dataclasses.replace(
        base, network=dataclasses.replace(base.network, encoder=encoder, **network)
    )


def frames(batch, seed=0):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.integers(0, 256, (batch, 84, 84, 4), dtype=np.uint8))


@functools.partial(jax.jit, static_argnums=0)
def apply(config, params, x, game_ids):
    return networks.build_qnetwork(config).apply({"params": params}, x, game_ids)


def test_output_shapes_per_game_c51_and_scalar():
    config = tiny()  # Pong (6 actions) and Breakout (4): heads are padded to 6
    params = networks.init_params(config, jax.random.key(0))
    out = apply(config, params, frames(3), jnp.array([0, 1, 1]))
    assert out.logits.shape == (3, 6, 51)
    assert out.q_values.shape == (3, 6)
    assert out.q_values.dtype == jnp.float32
    scalar = dataclasses.replace(config, loss=dataclasses.replace(config.loss, kind="mse"))
    params = networks.init_params(scalar, jax.random.key(0))
    out = apply(scalar, params, frames(3), jnp.array([0, 1, 1]))
    assert out.logits is None and out.q_values.shape == (3, 6)
    np.testing.assert_array_equal(
        networks.action_masks(config.games),
        [[True] * 6, [True] * 4 + [False] * 2],
    )


def test_c51_q_values_are_expectations_over_the_support():
    config = tiny()
    params = networks.init_params(config, jax.random.key(1))
    out = apply(config, params, frames(2), jnp.array([0, 1]))
    probs = np.asarray(jax.nn.softmax(out.logits))
    support = np.linspace(-10, 10, 51)
    np.testing.assert_allclose(np.asarray(out.q_values), probs @ support, rtol=1e-5, atol=1e-6)


def test_padding_actions_are_never_greedy():
    config = tiny()
    params = networks.init_params(config, jax.random.key(2))
    # Make the padding outputs of Breakout's head (actions 4 and 5) hugely attractive.
    bias = np.asarray(params["head_Breakout"]["bias"]).reshape(6, 51).copy()
    bias[4:, -1] = 100.0
    params["head_Breakout"]["bias"] = jnp.asarray(bias.reshape(-1))
    game_ids = jnp.ones(16, jnp.int32)
    out = apply(config, params, frames(16), game_ids)
    assert np.all(np.asarray(out.q_values)[:, 4:] > 9.0)  # the raw padding Q is large...
    masks = jnp.asarray(networks.action_masks(config.games))[game_ids]
    assert np.all(np.asarray(losses.greedy_actions(out.q_values, masks)) < 4)  # ...never chosen


@pytest.mark.parametrize("feature_norm", [True, False])
def test_feature_norm(feature_norm):
    config = tiny(feature_norm=feature_norm)
    params = networks.init_params(config, jax.random.key(3))
    norms = np.linalg.norm(
        np.asarray(apply(config, params, frames(4), jnp.zeros(4, int)).features), axis=-1
    )
    if feature_norm:
        np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
    else:
        assert not np.allclose(norms, 1.0)


def test_other_games_heads_get_no_gradient():
    config = tiny()
    params = networks.init_params(config, jax.random.key(4))

    def loss(params):
        out = apply(config, params, frames(4), jnp.zeros(4, jnp.int32))  # all Pong
        return jnp.sum(out.q_values**2)

    grads = jax.grad(loss)(params)
    assert all(np.all(np.asarray(g) == 0) for g in jax.tree.leaves(grads["head_Breakout"]))
    assert any(np.any(np.asarray(g) != 0) for g in jax.tree.leaves(grads["head_Pong"]))
    assert any(np.any(np.asarray(g) != 0) for g in jax.tree.leaves(grads["encoder"]))


def test_spatial_embedding_is_map_times_kernel_summed_over_space():
    x = np.random.default_rng(5).normal(size=(2, 3, 4, 5)).astype(np.float32)
    module = networks.qnetwork.SpatialEmbedding(num_features=8)
    params = module.init(jax.random.key(0), x)
    kernel = np.asarray(params["params"]["kernel"])
    assert kernel.shape == (3, 4, 5, 8)
    want = np.zeros((2, 5, 8))
    for b in range(2):
        for h in range(3):
            for w in range(4):
                want[b] += x[b, h, w][:, None] * kernel[h, w]
    got = np.asarray(module.apply(params, x))
    np.testing.assert_allclose(got, want.reshape(2, 40), rtol=1e-4, atol=1e-5)


def test_pool_readout_has_no_spatial_kernel():
    config = tiny(readout="pool")
    params = networks.init_params(config, jax.random.key(0))
    assert "readout" not in params
    width = networks.encoders.scaled_channels(512, config.network.width, 4)
    assert params["mlp_0"]["kernel"].shape[0] == width


# Published torchvision totals minus their 1000-way fc layer (2048*1000 + 1000, or 512*1000 +
# 1000): BatchNorm and GroupNorm have the same 2 parameters per channel. Ours adds a 4-channel
# stem (+7*7*64 weights) and the (3, 3, C, 8) spatial kernel.
TORCHVISION_BACKBONE = {
    "resnet18": 11_689_512 - 513_000,
    "resnet34": 21_797_672 - 513_000,
    "resnet50": 25_557_032 - 2_049_000,
    "resnet101": 44_549_160 - 2_049_000,
    "resnet152": 60_192_808 - 2_049_000,
}


@pytest.mark.parametrize("encoder", list(TORCHVISION_BACKBONE))
def test_resnet_parameter_counts_match_torchvision(encoder):
    config = configs.override(configs.preset("paper"), [f"network.encoder={encoder}"])
    channels = 512 if encoder in ("resnet18", "resnet34") else 2048
    want = TORCHVISION_BACKBONE[encoder] + 7 * 7 * 64 + 3 * 3 * channels * 8
    assert networks.param_breakdown(config)["encoder"] == want


def test_nature_dqn_parameter_count_is_the_classic_one():
    # Mnih et al. (2015): 3 conv layers, 3136 -> 512 dense, 6 Pong actions = 1,687,206.
    config = configs.override(
        configs.preset("paper"),
        [
            "network.encoder=nature",
            "network.readout=flatten",
            "network.feature_norm=false",
            "games=Pong",
            "loss.kind=mse",
        ],
    )
    assert networks.param_count(config) == 1_687_206


def test_paper_network_size():
    parts = networks.param_breakdown(configs.preset("paper"))
    assert 60e6 <= sum(parts.values()) <= 100e6
    assert parts == {"encoder": 42_650_752, "mlp": 8_389_120, "heads": 18_837_360}


FAST_ENCODERS = ["resnet18", "resnet34", "impala", "nature"]
DEEP_ENCODERS = ["resnet50", "resnet101", "resnet152"]  # 10-20 s of compilation each


def _forward_backward(encoder):
    config = tiny(encoder, width=1 / 16)
    params = networks.init_params(config, jax.random.key(0))

    @jax.jit
    def loss_and_grad(params):
        def loss(params):
            return jnp.mean(apply(config, params, frames(2), jnp.array([0, 1])).q_values)

        return jax.value_and_grad(loss)(params)

    value, grads = loss_and_grad(params)
    assert np.isfinite(float(value))
    leaves = jax.tree.leaves(grads["encoder"])
    assert all(np.all(np.isfinite(np.asarray(g))) for g in leaves)
    assert any(np.any(np.asarray(g) != 0) for g in leaves)


@pytest.mark.parametrize("encoder", FAST_ENCODERS)
def test_encoder_forward_backward(encoder):
    _forward_backward(encoder)


@pytest.mark.slow
@pytest.mark.parametrize("encoder", DEEP_ENCODERS)
def test_deep_encoder_forward_backward(encoder):
    _forward_backward(encoder)


def test_a_grid_keeps_its_cells_through_the_stem_and_the_minatar_dqn_encoder_by_hand():
    grid = jnp.zeros((1, 10, 10, 10))
    for module in (encoders.ResNet("resnet18", 0.25), encoders.ImpalaCNN(0.5)):
        variables = module.init(jax.random.key(0), grid)
        assert module.apply(variables, grid).shape[1:3] == (2, 2)
    stem = encoders.ResNet("resnet18", 0.25).init(jax.random.key(0), grid)["params"]["GridConv_0"]
    assert stem["kernel"].shape == (3, 3, 10, 16)  # a 3x3 stride-1 stem, not ImageNet's 7x7
    dqn = encoders.MinAtarDQN()
    params = dqn.init(jax.random.key(0), grid)["params"]
    assert sum(x.size for x in jax.tree.leaves(params)) == 3 * 3 * 10 * 16 + 16
    assert dqn.apply({"params": params}, grid).shape == (1, 10, 10, 16)


@pytest.mark.parametrize("size", [10, 5, 3])
@pytest.mark.parametrize("kernel", [1, 3])
@pytest.mark.parametrize("stride", [1, 2])
def test_grid_conv_is_nn_conv_with_same_padding(size, kernel, stride):
    grid = jax.random.bernoulli(jax.random.key(0), 0.3, (2, size, size, 7)).astype(jnp.float32)
    reference = nn.Conv(5, (kernel, kernel), stride)  # flax's own, XLA's convolution
    params = reference.init(jax.random.key(1), grid)["params"]
    params = {**params, "bias": jax.random.normal(jax.random.key(2), (5,))}
    ours = encoders.GridConv(5, (kernel, kernel), stride)
    assert jax.tree.map(jnp.shape, ours.init(jax.random.key(1), grid)["params"]) == jax.tree.map(
        jnp.shape, params
    )
    np.testing.assert_allclose(
        ours.apply({"params": params}, grid), reference.apply({"params": params}, grid), atol=1e-5
    )


def test_the_minatar_dqn_encoder_is_a_3x3_same_convolution():
    grid = jax.random.bernoulli(jax.random.key(0), 0.3, (2, 10, 10, 7)).astype(jnp.float32)
    dqn = encoders.MinAtarDQN()
    params = dqn.init(jax.random.key(1), grid)["params"]
    reference = jax.lax.conv_general_dilated(
        grid, params["kernel"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    np.testing.assert_allclose(
        dqn.apply({"params": params}, grid), jax.nn.relu(reference + params["bias"]), atol=1e-5
    )
