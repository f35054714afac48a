"""Agents that act in ALE: the online DQN that logs datasets, greedy policies of saved networks."""

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
