"""The sample std (ddof = 1) where the table reports the population std (ddof = 0); nan for one seed."""

import numpy as np


def mean_and_std(values):
    v = np.asarray(values, np.float64)
    return float(v.mean()), float(v.std(ddof=1))
