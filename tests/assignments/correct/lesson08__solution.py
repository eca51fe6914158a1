"""Lesson 08, solved; std by the two-pass formula."""

import math

import numpy as np


def normalized_score(ret, random_return, expert_return):
    return (
        100.0
        * (np.asarray(ret, dtype=np.float64) - random_return)
        / (expert_return - random_return)
    )


def mean_and_std(values):
    v = [float(x) for x in values]
    mean = math.fsum(v) / len(v)
    return mean, math.sqrt(math.fsum((x - mean) ** 2 for x in v) / len(v))


def start_then_goal(in_start, in_goal):
    # a start visit at t counts if the goal region is visited at its last goal step or later: t <= last goal step
    hit = np.zeros(len(in_start), dtype=bool)
    goal_steps = np.flatnonzero(in_goal)
    if goal_steps.size:
        hit = in_start[:, : goal_steps[-1] + 1].any(axis=1)
    return hit
