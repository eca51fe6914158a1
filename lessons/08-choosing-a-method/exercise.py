"""Lesson 08 · Choosing a method: your turn. Fill in each function, then check it:

    pytest tests/assignments --student -m lesson08

References: minirl.envs.normalized_score's formula, minirl.compare.summarize's mean ± std and
minirl.pointmaze.start_then_goal (the core of the stitching diagnostic, pointmaze.stitching_share).
"""

import numpy as np  # noqa: F401  (you will want it)


def normalized_score(ret, random_return: float, expert_return: float):
    """D4RL's normalized score: 100 (R - R_random) / (R_expert - R_random); 0 = a random policy, 100 = expert.

    ret: a float or an array of returns (the same shape comes back, as float64).
    """
    raise NotImplementedError(
        "Lesson 08, exercise 1: normalized_score (returns on the 0-100 scale of D4RL)"
    )


def mean_and_std(values):
    """One cell of the comparison table: the mean and the POPULATION standard deviation (ddof = 0) of one
    algorithm's scores over seeds, as `minirl compare` reports them.

    values: (n,) one score per seed. Returns (mean, std) as floats; one seed gives std 0.
    """
    raise NotImplementedError(
        "Lesson 08, exercise 2: mean_and_std (one cell of the comparison table)"
    )


def start_then_goal(in_start, in_goal):
    """One dataset episode of the stitching diagnostic: for each evaluation start cell c, does the episode go from
    c to the goal, i.e. is there a step t with in_start[c, t] and a step t' >= t with in_goal[t']?

    in_start: (C, T) bool, True where the point is in start cell c at step t (C >= 1 cells, T >= 1 steps).
    in_goal: (T,) bool, True where the point is in the goal region at step t.
    Returns a new (C,) array of dtype bool. t' = t counts (in the start cell and the goal region at the same step);
    a goal reached only BEFORE every visit of c does not. An episode that never reaches the goal gives all False;
    an episode of one step (T = 1) works like any other. The inputs are not modified.
    """
    raise NotImplementedError(
        "Lesson 08, exercise 3: start_then_goal (did this episode go from each start cell to the goal?)"
    )
