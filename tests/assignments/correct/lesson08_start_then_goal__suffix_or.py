"""Valid: a reversed cumulative OR of the goal (is the goal region visited at t or later?), then one AND per step."""

import numpy as np


def start_then_goal(in_start, in_goal):
    goal_from = np.logical_or.accumulate(np.asarray(in_goal, bool)[::-1])[
        ::-1
    ]  # (T,) goal at some t' >= t
    return (np.asarray(in_start, bool) & goal_from).any(axis=1)
