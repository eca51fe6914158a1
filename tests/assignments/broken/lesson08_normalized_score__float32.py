"""float32 scores: a return of 4800 is only good to ~4e-4, and the docstring promises float64."""

import numpy as np

CLASS = "dtype"


def normalized_score(ret, random_return, expert_return):
    r = np.asarray(ret, np.float32)
    return np.float32(100.0) * (r - np.float32(random_return)) / np.float32(expert_return - random_return)
