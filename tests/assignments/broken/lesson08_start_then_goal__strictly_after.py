"""Asks for the goal strictly after the start (t' > t): an episode in the start cell and the goal region at the same
step, and only then, is missed. The contract says t' >= t."""

import numpy as np

CLASS = "contract"


def start_then_goal(in_start, in_goal):
    if not in_goal.any():
        return np.zeros(len(in_start), bool)
    last_goal = np.flatnonzero(in_goal)[-1]
    return in_start[:, :last_goal].any(axis=1)
