"""Agents that act in ALE: online Q-learners (the `dqn` behaviour that logs datasets, online
fine-tuning) and greedy policies of saved networks."""

from scaledql.agents.policies import (
    DQNPolicy,
    GreedyPolicy,
    OnlineLearner,
    load_qnetwork,
    make_policy,
    save_qnetwork,
)

__all__ = [
    "DQNPolicy",
    "GreedyPolicy",
    "OnlineLearner",
    "load_qnetwork",
    "make_policy",
    "save_qnetwork",
]
