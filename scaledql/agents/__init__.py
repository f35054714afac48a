"""Agents that act: online Q-learners (the `dqn` behaviour that logs ALE datasets, online
fine-tuning), greedy policies of saved networks, the MinAtar twin's jitted DQN collector, and
`collect_run`, which collects one run in either family."""

from scaledql.agents.collection import collect_run
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
    "collect_run",
    "load_qnetwork",
    "make_policy",
    "save_qnetwork",
]
