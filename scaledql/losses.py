"""Losses of Scaled QL as pure functions: C51 projection and TD loss, MSE TD loss, CQL, BC, and
the HL-Gauss target of later work (Farebrother et al., 2024); and the masked autoencoder's
reconstruction loss.

Shapes: B transitions, A actions (padding included), K atoms. Every per-transition loss returns
(B,); the caller reduces. `action_mask` is (B, A) or (A,) bool, True for actions the game has.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def masked(values: jax.Array, action_mask: jax.Array) -> jax.Array:
    """values (B, A) with the padding actions set to -inf (out of every max and logsumexp)."""
    return jnp.where(action_mask, values, -jnp.inf)


def greedy_actions(q_values: jax.Array, action_mask: jax.Array) -> jax.Array:
    """(B,) int32 argmax over the valid actions of q_values (B, A)."""
    return jnp.argmax(masked(q_values, action_mask), axis=-1).astype(jnp.int32)


def _take(values: jax.Array, actions: jax.Array) -> jax.Array:
    """values[b, actions[b]] for values (B, A, ...) -> (B, ...)."""
    return jnp.take_along_axis(
        values, actions.reshape(-1, *([1] * (values.ndim - 1))), axis=1
    ).squeeze(1)


def project_distribution(
    support: jax.Array, probs: jax.Array, rewards: jax.Array, discounts: jax.Array
) -> jax.Array:
    """C51 projection of the distribution of r + discount * Z onto the fixed support.

    support: (K,) evenly spaced atoms; probs: (B, K) the distribution of Z; rewards: (B,);
    discounts: (B,) = gamma^n * (1 - terminal). Returns (B, K).

    Each shifted atom is clipped into [v_min, v_max] and its mass is split between the two
    nearest support points in proportion to closeness: the weight of shifted atom i on support
    point j is max(0, 1 - |Tz_i - z_j| / delta), which gives all the mass to z_j when Tz_i lands
    on it exactly.
    """
    delta = support[1] - support[0]
    shifted = rewards[:, None] + discounts[:, None] * support[None, :]
    shifted = jnp.clip(shifted, support[0], support[-1])  # (B, K)
    weights = jnp.clip(1.0 - jnp.abs(shifted[:, :, None] - support[None, None, :]) / delta, 0, 1)
    return jnp.einsum("bi,bij->bj", probs, weights)


def c51_target(
    support: jax.Array,
    next_logits: jax.Array,
    next_action_mask: jax.Array,
    rewards: jax.Array,
    discounts: jax.Array,
) -> jax.Array:
    """(B, K) projected target distribution from the target network's next-state logits (B, A, K).

    The next action is the target network's greedy valid action, as in Dopamine's C51.
    """
    next_probs = jax.nn.softmax(next_logits, axis=-1)
    next_q = jnp.sum(next_probs * support, axis=-1)
    next_actions = greedy_actions(next_q, next_action_mask)
    target = project_distribution(support, _take(next_probs, next_actions), rewards, discounts)
    return jax.lax.stop_gradient(target)


def scalar_td_target(
    rewards: jax.Array,
    discounts: jax.Array,
    next_q_values: jax.Array,
    next_action_mask: jax.Array,
) -> jax.Array:
    """(B,) r + discount * max_a' Q_target(s', a'), the max over the valid actions of
    next_q_values (B, A)."""
    next_value = jnp.max(masked(next_q_values, next_action_mask), axis=-1)
    return jax.lax.stop_gradient(rewards + discounts * next_value)


def hl_gauss_target(support: jax.Array, targets: jax.Array, sigma_ratio: float) -> jax.Array:
    """(B, K) HL-Gauss histogram of scalar targets (B,) over bins centred on the support (K,).

    The mass of a normal N(y, sigma^2), sigma = sigma_ratio * bin width, on each bin, divided by
    its mass on the whole histogram, [z_0 - delta/2, z_K-1 + delta/2]; a target outside that
    range is clipped into it first, as Farebrother et al. (2024) clip theirs. The bins are
    centred on the C51 atoms so that the network and its Q-values stay exactly C51's.
    """
    delta = support[1] - support[0]
    edges = jnp.concatenate([support - delta / 2, support[-1:] + delta / 2])  # (K + 1,)
    targets = jnp.clip(targets, edges[0], edges[-1])
    cdf = jax.scipy.stats.norm.cdf(edges[None, :], targets[:, None], sigma_ratio * delta)
    probs = jnp.diff(cdf, axis=-1) / (cdf[:, -1:] - cdf[:, :1])
    return jax.lax.stop_gradient(probs)


def categorical_td_loss(
    logits: jax.Array, actions: jax.Array, target_probs: jax.Array
) -> jax.Array:
    """(B,) cross-entropy between target_probs (B, K) and the online logits (B, A, K) at actions."""
    log_probs = jax.nn.log_softmax(_take(logits, actions), axis=-1)
    return -jnp.sum(target_probs * log_probs, axis=-1)


def mse_td_loss(
    q_values: jax.Array,
    actions: jax.Array,
    rewards: jax.Array,
    discounts: jax.Array,
    next_q_values: jax.Array,
    next_action_mask: jax.Array,
) -> jax.Array:
    """(B,) squared TD error of scalar Q (B, A) against r + discount * max_a' Q_target(s', a')."""
    target = scalar_td_target(rewards, discounts, next_q_values, next_action_mask)
    return jnp.square(_take(q_values, actions) - target)


def cql_penalty(q_values: jax.Array, actions: jax.Array, action_mask: jax.Array) -> jax.Array:
    """(B,) CQL regulariser of Eq. (1) before its alpha: logsumexp_a' Q(s, a') - Q(s, a).

    q_values: (B, A) (for C51, the expected Q-values); actions: (B,) the dataset actions;
    action_mask: (B, A) or (A,). Padding actions contribute nothing.
    """
    action_mask = jnp.broadcast_to(action_mask, q_values.shape)
    return jax.nn.logsumexp(masked(q_values, action_mask), axis=-1) - _take(q_values, actions)


def bc_loss(logits: jax.Array, actions: jax.Array, action_mask: jax.Array) -> jax.Array:
    """(B,) cross-entropy of the dataset action under a softmax over the valid logits (B, A)."""
    action_mask = jnp.broadcast_to(action_mask, logits.shape)
    return -_take(jax.nn.log_softmax(masked(logits, action_mask), axis=-1), actions)


def game_counts(game_ids: jax.Array, num_games: int) -> jax.Array:
    """(G,) float: how many of the batch's transitions each game holds."""
    return jax.ops.segment_sum(jnp.ones(game_ids.shape), game_ids, num_games)


def sum_of_game_means(
    losses: jax.Array, game_ids: jax.Array, num_games: int, counts: jax.Array | None = None
) -> jax.Array:
    """Scalar: the mean loss of each game in the batch, summed over games, unweighted.

    The "unitary scaling" of Kurin et al. (2022) that the paper's MSE variant uses: every game
    counts once, however many of its transitions the batch holds. Absent games add nothing.
    counts (G,): each game's transitions in the whole batch, when `losses` are those of one of
    its micro-batches (default: this batch's own); the micro-batches' sums then add up to the
    whole batch's.
    """
    sums = jax.ops.segment_sum(losses, game_ids, num_games)
    if counts is None:
        counts = game_counts(game_ids, num_games)
    return jnp.sum(jnp.where(counts > 0, sums / jnp.maximum(counts, 1), 0.0))


def reconstruction_loss(predicted: jax.Array, target: jax.Array, hidden: jax.Array) -> jax.Array:
    """Scalar: a masked autoencoder's loss (He et al., 2022), the squared error of the pixels
    (B, N, P) averaged over each patch, then over the hidden patches (B, N) alone."""
    per_patch = jnp.mean(jnp.square(predicted - target), axis=-1)
    return jnp.sum(per_patch * hidden) / jnp.maximum(jnp.sum(hidden), 1)
