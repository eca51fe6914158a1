"""Normalizes in place (ret -= random_return): the caller's array of returns is overwritten, and an integer array of
returns cannot take float results at all. The contract: any float or array, the same shape back as float64."""

import numpy as np

CLASS = "contract"


def normalized_score(ret, random_return, expert_return):
    ret = np.asarray(ret)
    if ret.ndim == 0:
        return np.float64(100.0 * (float(ret) - random_return) / (expert_return - random_return))
    ret -= random_return
    ret *= 100.0 / (expert_return - random_return)
    return ret
