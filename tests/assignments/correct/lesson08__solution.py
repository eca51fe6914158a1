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
