"""Lesson 08 · Choosing a method: your turn. Fill in each function, then check it:

    pytest tests/assignments --student -m lesson08

References: minirl.envs.normalized_score's formula and minirl.compare.summarize's mean ± std.
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
