"""Ignores the order: in the start cell at some step AND in the goal region at some step, before or after."""

import numpy as np


def start_then_goal(in_start, in_goal):
    return np.asarray(in_start, bool).any(axis=1) & bool(np.any(in_goal))
