"""The learner's jitted update: hard target copies on schedule, learning on a fixed batch, every
loss kind."""

import dataclasses

import jax
import numpy as np
import pytest

from scaledql import configs, learner, networks


def leaves_equal(a, b):
    return all(
        np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def test_target_network_is_copied_every_period():
    config = configs.override(configs.preset("smoke"), ["train.target_update_period=3"])
    state = learner.create_train_state(config, networks.init_params(config, jax.random.key(0)))
    initial = jax.tree.map(np.asarray, state.params)
    update = learner.make_update(config)
    batch = learner.random_batch(config)
    for step in range(1, 4):
        state, _ = update(state, batch)
        if step < 3:  # still the initial copy, while the online network moves
            assert leaves_equal(state.target_params, initial)
            assert not leaves_equal(state.params, initial)
    assert leaves_equal(state.target_params, state.params)  # copied at step 3


@pytest.mark.parametrize("kind", ["c51", "mse", "bc"])
def test_update_lowers_the_loss_on_a_fixed_batch(kind):
    config = configs.override(
        configs.preset("smoke"), [f"loss.kind={kind}", "train.learning_rate=1e-3"]
    )
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, batch_size=4))
    state = learner.create_train_state(config, networks.init_params(config, jax.random.key(1)))
    update = learner.make_update(config)
    batch = learner.random_batch(config, seed=1)
    losses = []
    for _ in range(30):
        state, metrics = update(state, batch)
        losses.append(float(metrics["loss"]))
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]
