"""100 R / R_expert: forgets to subtract the random policy's return, so random scores above 0."""

import numpy as np


def normalized_score(ret, random_return, expert_return):
    return 100.0 * np.asarray(ret, np.float64) / expert_return
