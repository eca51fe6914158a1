"""The one-pass variance E[x²] - E[x]²: exact on small scores, noise on large nearly equal ones (three scores
1e8 + 0.1 give a std of several units, or NaN, instead of 0)."""

import math

CLASS = "numerics"


def mean_and_std(values):
    n = len(values)
    mean = sum(values) / n
    var = sum(v * v for v in values) / n - mean * mean
    return float(mean), math.sqrt(var) if var > 0 else float("nan") if var < 0 else 0.0
