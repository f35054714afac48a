"""The losses against independent references: a brute-force C51 projection, hand-computed CQL."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scaledql import losses


def brute_force_projection(support, probs, rewards, discounts):
    """C51 projection, atom by atom, in float64: spread each atom's mass to its two neighbours."""
    support = np.asarray(support, np.float64)
    v_min, v_max = support[0], support[-1]
    delta = (v_max - v_min) / (len(support) - 1)
    out = np.zeros((len(rewards), len(support)))
    for b in range(len(rewards)):
        for i, z in enumerate(support):
            tz = min(max(rewards[b] + discounts[b] * z, v_min), v_max)
            pos = (tz - v_min) / delta
            lower, upper = int(np.floor(pos)), int(np.ceil(pos))
            if abs(pos - round(pos)) < 1e-6:  # on a support point: all mass there
                out[b, int(round(pos))] += probs[b, i]
            else:
                out[b, lower] += probs[b, i] * (upper - pos)
                out[b, upper] += probs[b, i] * (pos - lower)
    return out


@pytest.mark.parametrize("num_atoms,v_max", [(51, 10.0), (11, 5.0), (5, 1.0)])
def test_projection_matches_brute_force(num_atoms, v_max):
    rng = np.random.default_rng(num_atoms)
    support = np.linspace(-v_max, v_max, num_atoms).astype(np.float32)
    batch = 64
    probs = rng.dirichlet(np.ones(num_atoms), batch).astype(np.float32)
    rewards = rng.uniform(-2 * v_max, 2 * v_max, batch).astype(np.float32)  # some off-support
    rewards[:8] = [-1.0, 0.0, 1.0, 3 * v_max, -3 * v_max, 0.5, -0.25, 100.0]
    terminal = rng.random(batch) < 0.3
    terminal[:4] = True
    discounts = (0.99 * (1.0 - terminal)).astype(np.float32)
    got = losses.project_distribution(support, probs, rewards, discounts)
    want = brute_force_projection(support, probs, rewards, discounts)
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)
    np.testing.assert_allclose(np.asarray(got).sum(-1), 1.0, atol=1e-5)  # mass conserved


def test_projection_exact_support_points():
    # discount 1 and rewards that are whole multiples of the atom spacing: every atom lands on a
    # support point, so the projection is a shift (with the overflow piled on the end atoms).
    support = np.linspace(-10, 10, 51).astype(np.float32)
    probs = np.random.default_rng(0).dirichlet(np.ones(51), 3).astype(np.float32)
    rewards = np.array([0.0, 0.4, -0.8], np.float32)
    got = np.asarray(losses.project_distribution(support, probs, rewards, np.ones(3, np.float32)))
    np.testing.assert_allclose(got[0], probs[0], atol=1e-5)
    np.testing.assert_allclose(got[1, 1:-1], probs[1, :-2], atol=1e-5)
    np.testing.assert_allclose(got[1, -1], probs[1, -2:].sum(), atol=1e-5)
    np.testing.assert_allclose(got[2, 1:-2], probs[2, 3:], atol=1e-5)
    np.testing.assert_allclose(got[2, 0], probs[2, :3].sum(), atol=1e-5)
    np.testing.assert_allclose(got[2, -2:], 0.0, atol=1e-6)
    want = brute_force_projection(support, probs, rewards, np.ones(3))
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_projection_terminal_is_reward_only():
    support = np.linspace(-10, 10, 51).astype(np.float32)
    probs = np.full((1, 51), 1 / 51, np.float32)
    got = np.asarray(losses.project_distribution(support, probs, np.array([1.2]), np.zeros(1)))
    # a terminal keeps only the reward: all mass on the atom at 1.2 (index 28, spacing 0.4)
    want = np.zeros(51)
    want[28] = 1.0
    np.testing.assert_allclose(got[0], want, atol=1e-5)


def test_cql_penalty_hand_computed():
    q = jnp.array([[1.0, 2.0, 3.0, 50.0], [0.0, 0.0, 0.0, 0.0]])
    mask = jnp.array([[True, True, True, False], [True, True, False, False]])
    actions = jnp.array([1, 0])
    got = losses.cql_penalty(q, actions, mask)
    # row 0: log(e^1 + e^2 + e^3) - 2 ; the masked 50 must not count
    want0 = np.log(np.exp(1) + np.exp(2) + np.exp(3)) - 2.0
    want1 = np.log(2.0) - 0.0
    np.testing.assert_allclose(np.asarray(got), [want0, want1], rtol=1e-6)


def test_cql_penalty_accepts_one_mask_for_the_batch():
    q = jnp.array([[1.0, 2.0, 9.0], [3.0, 1.0, 9.0]])
    got = losses.cql_penalty(q, jnp.array([0, 0]), jnp.array([True, True, False]))
    want = [np.log(np.e + np.e**2) - 1, np.log(np.e**3 + np.e) - 3]
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)


def test_cql_gradient_pushes_data_action_up_and_others_down():
    q = jnp.array([[0.5, -0.2, 1.0, 7.0]])
    mask = jnp.array([[True, True, True, False]])
    grad = jax.grad(lambda q: losses.cql_penalty(q, jnp.array([1]), mask).sum())(q)[0]
    # gradient descent moves Q by -grad: the dataset action rises, unseen valid actions fall
    assert grad[1] < 0
    assert grad[0] > 0 and grad[2] > 0
    assert grad[3] == 0  # the padding action gets nothing
    softmax = np.exp([0.5, -0.2, 1.0]) / np.exp([0.5, -0.2, 1.0]).sum()
    np.testing.assert_allclose(np.asarray(grad[:3]), softmax - np.array([0, 1, 0]), rtol=1e-5)


def test_categorical_td_loss_is_cross_entropy():
    logits = jnp.array([[[0.0, 0.0], [2.0, 0.0]]])  # (1, 2 actions, 2 atoms)
    target = jnp.array([[0.25, 0.75]])
    got = losses.categorical_td_loss(logits, jnp.array([1]), target)
    p = np.exp([2.0, 0.0]) / np.exp([2.0, 0.0]).sum()
    np.testing.assert_allclose(np.asarray(got), [-(0.25 * np.log(p[0]) + 0.75 * np.log(p[1]))])


def test_c51_target_uses_greedy_valid_next_action():
    support = jnp.array([-1.0, 0.0, 1.0])
    big = 20.0
    # action 0 puts its mass on +1, action 1 on -1, action 2 (padding) on +1 even more sharply
    next_logits = jnp.array([[[0, 0, big], [big, 0, 0], [0, 0, 2 * big]]], jnp.float32)
    mask = jnp.array([[True, True, False]])
    got = losses.c51_target(support, next_logits, mask, jnp.array([0.0]), jnp.array([1.0]))
    np.testing.assert_allclose(np.asarray(got[0]), [0, 0, 1], atol=1e-6)


def test_mse_td_loss_hand_computed():
    q = jnp.array([[1.0, 2.0, 5.0]])
    next_q = jnp.array([[3.0, 4.0, 100.0]])
    mask = jnp.array([[True, True, False]])
    got = losses.mse_td_loss(q, jnp.array([0]), jnp.array([1.0]), jnp.array([0.5]), next_q, mask)
    np.testing.assert_allclose(np.asarray(got), [(1.0 - (1.0 + 0.5 * 4.0)) ** 2])


def test_bc_loss_is_masked_cross_entropy():
    logits = jnp.array([[1.0, 2.0, 30.0]])
    got = losses.bc_loss(logits, jnp.array([1]), jnp.array([True, True, False]))
    np.testing.assert_allclose(np.asarray(got), [-np.log(np.e**2 / (np.e + np.e**2))], rtol=1e-6)


def test_sum_of_game_means_weights_games_not_transitions():
    per_example = jnp.array([1.0, 3.0, 10.0, 0.0])
    game_ids = jnp.array([0, 0, 2, 0])
    got = losses.sum_of_game_means(per_example, game_ids, num_games=3)
    np.testing.assert_allclose(float(got), (1 + 3 + 0) / 3 + 10.0)


def integrated_gauss_histogram(support, target, sigma):
    """The HL-Gauss target by numerical integration of the normal density over each bin (bins
    centred on the support), divided by the integral over all bins."""
    from scipy import integrate, stats

    delta = support[1] - support[0]
    edges = np.concatenate([support - delta / 2, [support[-1] + delta / 2]])
    target = min(max(target, edges[0]), edges[-1])
    mass = [
        integrate.quad(stats.norm(target, sigma).pdf, lo, hi, epsabs=1e-13)[0]
        for lo, hi in zip(edges[:-1], edges[1:], strict=True)
    ]
    return np.array(mass) / sum(mass)


@pytest.mark.parametrize("ratio", [0.75, 0.3, 2.0])
def test_hl_gauss_target_matches_numerical_integral(ratio):
    support = np.linspace(-10.0, 10.0, 51)
    targets = np.array([0.0, 0.13, -3.9, 9.95, 10.2, -40.0])  # the last two beyond the bins
    got = np.asarray(losses.hl_gauss_target(jnp.asarray(support), jnp.asarray(targets), ratio))
    delta = support[1] - support[0]
    for row, y in zip(got, targets, strict=True):
        expected = integrated_gauss_histogram(support, y, ratio * delta)
        np.testing.assert_allclose(row, expected, atol=2e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5)
    if ratio >= 0.75:  # wide enough that binning keeps a target inside the bins as the mean
        np.testing.assert_allclose((got[:3] * support).sum(axis=1), targets[:3], atol=1e-3)
