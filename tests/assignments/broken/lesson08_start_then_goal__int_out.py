"""Right values, wrong dtype: counts start visits before the last goal step and returns 0/1 ints, not bool."""

import numpy as np

CLASS = "dtype"


def start_then_goal(in_start, in_goal):
    if not in_goal.any():
        return np.zeros(len(in_start), np.int64)
    last_goal = np.flatnonzero(in_goal)[-1]
    return (in_start[:, : last_goal + 1].sum(axis=1) > 0).astype(np.int64)
