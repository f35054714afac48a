"""The masked autoencoder of the paper's MAE baseline: its masking ratio, a reconstruction loss
that falls on a fixed tiny image set, ViT-Base's parameter count by hand, and its encoder
carried into a Q-network."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scaledql import configs, learner, losses, networks
from scaledql.networks import autoencoder

TINY = configs.override(
    configs.preset("twin-smoke"),
    ["network.encoder=vit", "network.width=1/12", "loss.kind=mae", "mae.decoder_width=32",
     "mae.decoder_layers=1", "mae.decoder_heads=2", "train.learning_rate=1e-3"],
)  # fmt: skip


def test_the_encoder_sees_a_quarter_of_the_patches_drawn_uniformly():
    keep = np.asarray(autoencoder.visible_patches(jax.random.key(0), 4000, 25, 0.75))
    assert keep.shape == (4000, 6)  # round(25 x 0.25)
    assert all(len(set(row)) == 6 for row in keep[:200]) and keep.min() >= 0 and keep.max() < 25
    np.testing.assert_allclose(np.bincount(keep.ravel(), minlength=25) / 4000, 6 / 25, atol=0.02)
    states = jnp.zeros((3, 10, 10, 10), jnp.uint8)
    model = networks.build_autoencoder(TINY)
    params = networks.init_params(TINY, jax.random.key(0))
    out = model.apply({"params": params}, states, jax.random.key(1))
    assert out.predicted.shape == out.target.shape == (3, 25, 2 * 2 * 10)
    np.testing.assert_array_equal(np.asarray(out.hidden).sum(axis=1), [19, 19, 19])


def test_the_loss_reads_the_hidden_patches_only():
    target = jnp.zeros((1, 3, 2))
    predicted = jnp.array([[[1.0, 1.0], [2.0, 0.0], [0.0, 0.0]]])
    hidden = jnp.array([[True, True, False]])
    assert float(losses.reconstruction_loss(predicted, target, hidden)) == pytest.approx(1.5)


def test_the_reconstruction_loss_falls_below_the_pixel_means_on_a_fixed_image_set():
    # each image fills every cell of a channel alike, so any visible patch shows all of it
    rng = np.random.default_rng(0)
    bits = (rng.random((8, 1, 1, 10)) < 0.5).astype(np.uint8)
    images = np.broadcast_to(bits, (8, 10, 10, 10)).copy()
    # what predicting every pixel's mean over the set would score: a model that reads
    # nothing of the visible patches gets no lower
    baseline = float(np.mean(images.var(axis=0)))
    config = configs.override(TINY, ["train.steps_per_call=1", "train.adam_eps=1e-8"])
    state = learner.create_train_state(config, learner.random_params(config))
    update = learner.make_update(config)
    history = []
    for _ in range(200):
        state, metrics = update(state, {"state": images})
        history.append(float(metrics["loss"]))
    assert np.mean(history[-10:]) < 0.5 * baseline < np.mean(history[:5])


def test_vit_base_has_the_parameters_of_twelve_blocks_by_hand():
    config = configs.override(configs.preset("paper"), ["network.encoder=vit"])
    d = 768
    block = (4 * d * d + 4 * d) + (2 * d * 4 * d + 4 * d + d) + 2 * 2 * d  # attention, MLP, norms
    patches = (14 * 14 * 4) * d + d + 36 * d  # embedding of the 36 patches, their positions
    spatial_readout = 6 * 6 * d * 8  # the learned spatial embedding of the 6x6 token map, F = 8
    final_norm = 2 * d
    assert networks.param_breakdown(config)["encoder"] == (
        12 * block + patches + final_norm + spatial_readout
    )


def test_a_q_network_takes_the_pretrained_encoder_and_keeps_its_own_readout():
    mae_params = networks.init_params(TINY, jax.random.key(0))
    q_config = configs.override(TINY, ["loss.kind=c51", "network.readout=spatial"])
    fresh = networks.init_params(q_config, jax.random.key(1))
    moved = networks.transfer_encoder(mae_params, fresh)
    same = jax.tree.map(np.array_equal, moved["encoder"], mae_params["encoder"])
    assert all(jax.tree.leaves(same))
    assert moved["readout"] is fresh["readout"]  # the autoencoder has none: it stays fresh
    q = networks.build_qnetwork(q_config).apply(
        {"params": moved}, jnp.zeros((2, 10, 10, 10), jnp.uint8), jnp.zeros(2, jnp.int32)
    )
    assert q.q_values.shape == (2, networks.build_qnetwork(q_config).max_actions)
    with pytest.raises(ValueError, match="set network.encoder=vit"):
        configs.override(TINY, ["network.encoder=resnet18"])
    with pytest.raises(ValueError, match="a multiple of 64"):
        configs.override(TINY, ["network.width=0.1"])


@pytest.mark.slow
def test_a_frozen_pretrained_encoder_trains_q_heads_and_stays_as_pretrained(own_storage):
    from scaledql import checkpoints, pipeline

    mae = configs.override(TINY, ["games=minatar/Breakout"])
    record = pipeline.run_or_load(mae, progress=False)
    assert record["scores"] == {}  # an autoencoder has no policy to evaluate
    assert record["learning_curve"][-1]["loss"] < record["learning_curve"][0]["loss"]
    q = configs.override(
        mae,
        ["loss.kind=c51", "network.readout=pool", "finetune.encoder=frozen",
         f"finetune.pretrained={record['config_hash']}"],
    )  # fmt: skip
    tuned = pipeline.run_or_load(q, progress=False)
    assert len(tuned["scores"]["minatar/Breakout"]["returns"]) == q.eval.episodes
    before = checkpoints.load_params(mae, checkpoints.default_workdir(mae))["encoder"]
    after = checkpoints.load_params(q, checkpoints.default_workdir(q))["encoder"]
    assert all(jax.tree.leaves(jax.tree.map(np.array_equal, before, after)))
