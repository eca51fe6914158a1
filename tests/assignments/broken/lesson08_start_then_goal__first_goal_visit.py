"""Cuts the episode at the FIRST goal visit: an episode that passes the goal, visits the start cell, then comes back
to the goal is missed. Only the last goal visit bounds the start visits that count."""

import numpy as np

CLASS = "contract"


def start_then_goal(in_start, in_goal):
    if not in_goal.any():
        return np.zeros(len(in_start), bool)
    first_goal = int(np.argmax(in_goal))
    return in_start[:, : first_goal + 1].any(axis=1)
