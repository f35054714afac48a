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


@pytest.mark.parametrize("kind", ["c51", "mse", "bc", "hl_gauss"])
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


def test_hl_gauss_objective_is_cross_entropy_to_the_gaussian_histogram_of_the_td_target():
    from scipy import stats

    config = configs.override(configs.preset("smoke"), ["loss.kind=hl_gauss", "loss.cql_alpha=0"])
    with pytest.raises(ValueError, match="loss.hl_gauss_sigma must be positive"):
        configs.override(config, ["loss.hl_gauss_sigma=0"])
    network = networks.build_qnetwork(config)
    params = networks.init_params(config, jax.random.key(2))
    batch = learner.random_batch(config, seed=2)
    loss, _ = learner.objective(params, params, batch, config)

    apply = lambda states: network.apply({"params": params}, states, batch["game_id"])  # noqa: E731
    online, following = apply(batch["state"]), apply(batch["next_state"])
    masks = np.asarray(networks.action_masks(config.games))[np.asarray(batch["game_id"])]
    next_value = np.where(masks, np.asarray(following.q_values, np.float64), -np.inf).max(axis=1)
    discount = config.loss.discount**config.loss.n_step * (1 - np.asarray(batch["terminal"]))
    targets = np.asarray(batch["reward"]) + discount * next_value
    support = np.linspace(config.loss.v_min, config.loss.v_max, config.loss.num_atoms)
    delta = support[1] - support[0]
    edges = np.append(support - delta / 2, support[-1] + delta / 2)
    expected = []
    for b, y in enumerate(np.clip(targets, edges[0], edges[-1])):
        cdf = stats.norm(y, config.loss.hl_gauss_sigma * delta).cdf(edges)
        histogram = np.diff(cdf) / (cdf[-1] - cdf[0])
        logits = np.asarray(online.logits[b, batch["action"][b]], np.float64)
        log_probs = logits - np.log(np.exp(logits - logits.max()).sum()) - logits.max()
        expected.append(-(histogram * log_probs).sum())
    np.testing.assert_allclose(float(loss), np.mean(expected), rtol=1e-4)


@pytest.mark.parametrize(
    "settings",
    [["loss.kind=c51"], ["loss.kind=mse"],
     ["finetune.encoder=frozen", "finetune.pretrained=0123456789ab"]],
)  # fmt: skip
def test_micro_batches_give_the_whole_batch_gradients(settings):
    """Summed over 4 micro-batches, the gradients and loss are the whole batch's (bc and
    hl_gauss are batch means as c51 is); with the batch sorted by game, as the sampler returns
    it, mse's per-game means span micro-batches."""
    whole = configs.override(configs.preset("smoke"), [*settings, "train.batch_size=16"])
    split = configs.override(whole, ["train.micro_batches=4"])
    state = learner.create_train_state(whole, networks.init_params(whole, jax.random.key(2)))
    batch = learner.random_batch(whole, seed=3)
    order = np.argsort(batch["game_id"], kind="stable")
    batch = {key: value[order] for key, value in batch.items()}
    expected, expected_metrics = jax.jit(lambda s, b: learner.gradients(s, b, whole))(state, batch)
    got, metrics = jax.jit(lambda s, b: learner.gradients(s, b, split))(state, batch)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-7)
    for name, value in expected_metrics.items():
        np.testing.assert_allclose(metrics[name], value, rtol=1e-5, atol=1e-7)


def test_micro_batches_must_split_the_batch_of_a_q_network():
    with pytest.raises(ValueError, match="does not split train.batch_size=16"):
        configs.override(configs.preset("smoke"), ["train.batch_size=16", "train.micro_batches=3"])
    with pytest.raises(ValueError, match="Q-network objectives only, not loss.kind=dt"):
        configs.override(configs.preset("twin-smoke"), ["loss.kind=dt", "train.micro_batches=2"])
