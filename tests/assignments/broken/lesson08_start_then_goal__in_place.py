"""Right values, but it clears the start visits after the last goal step in the caller's in_start array."""

import numpy as np

CLASS = "contract"


def start_then_goal(in_start, in_goal):
    goal_steps = np.flatnonzero(in_goal)
    in_start[:, goal_steps[-1] + 1 if goal_steps.size else 0 :] = False
    return in_start.any(axis=1)
