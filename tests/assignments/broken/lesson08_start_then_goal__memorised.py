"""Memorises the fixed cases: the answer to every fixed case of the grader (ANSWERS, keyed by a fingerprint
of the inputs, written by tests/assignments/memorise.py) and a wrong guess anywhere else. Only fresh cases
catch it."""

import numpy as np

CLASS = "memorised"
ANSWERS = {'[((8, 6), 78.0), ((6,), 6.0)]': ([8], [True, True, False, False, True, False, False, False]), '[((2, 6), 12.0), ((6,), 7.0)]': ([2], [False, True]), '[((8, 2), 11.0), ((2,), 0.0)]': ([8], [False, False, False, False, False, False, False, False]), '[((5, 1), 1.0), ((1,), 0.0)]': ([5], [False, False, False, False, False]), '[((5, 300), 174250.0), ((300,), 16195.0)]': ([5], [True, True, True, True, True]), '[((5, 20), 590.0), ((20,), 0.0)]': ([5], [False, False, False, False, False]), '[((2, 6), 33.0), ((6,), 6.0)]': ([2], [True, True]), '[((8, 6), 177.0), ((6,), 3.0)]': ([8], [False, False, False, False, True, False, False, False]), '[((5, 2), 3.0), ((2,), 0.0)]': ([5], [False, False, False, False, False]), '[((2, 300), 59965.0), ((300,), 17858.0)]': ([2], [True, True]), '[((5, 300), 180924.0), ((300,), 1331.0)]': ([5], [True, True, True, True, True]), '[((1, 1), 1.0), ((1,), 1.0)]': ([1], [True]), '[((3, 2), 0.0), ((2,), 3.0)]': ([3], [False, False, False]), '[((8, 300), 331684.0), ((300,), 19752.0)]': ([8], [True, True, True, True, True, True, True, True]), '[((1, 20), 0.0), ((20,), 72.0)]': ([1], [False]), '[((8, 20), 1390.0), ((20,), 18.0)]': ([8], [True, True, False, False, False, False, False, False]), '[((3, 6), 52.0), ((6,), 11.0)]': ([3], [False, True, True]), '[((5, 300), 172723.0), ((300,), 0.0)]': ([5], [False, False, False, False, False]), '[((8, 3), 60.0), ((3,), 0.0)]': ([8], [False, False, False, False, False, False, False, False]), '[((3, 3), 6.0), ((3,), 0.0)]': ([3], [False, False, False]), '[((1, 1), 1.0), ((1,), 0.0)]': ([1], [False]), '[((3, 1), 0.0), ((1,), 1.0)]': ([3], [False, False, False]), '[((3, 6), 57.0), ((6,), 0.0)]': ([3], [False, False, False]), '[((2, 4), 0.0), ((4,), 5.0)]': ([2], [False, False]), '[((1, 5), 9.0), ((5,), 3.0)]': ([1], [False]), '[((1, 4), 3.0), ((4,), 3.0)]': ([1], [True]), '[((2, 5), 10.0), ((5,), 6.0)]': ([2], [True, True]), '[((1, 5), 3.0), ((5,), 6.0)]': ([1], [True]), '[((3, 8), 44.0), ((8,), 13.0)]': ([3], [True, True, False]), '[((2, 8), 22.0), ((8,), 10.0)]': ([2], [True, True]), '[((2, 3), 2.0), ((3,), 6.0)]': ([2], [True, False]), '[((3, 4), 19.0), ((4,), 3.0)]': ([3], [True, False, True]), '[((1, 3), 2.0), ((3,), 2.0)]': ([1], [True]), '[((1, 4), 4.0), ((4,), 3.0)]': ([1], [False]), '[((2, 2), 7.0), ((2,), 0.0)]': ([2], [False, False]), '[((2, 1), 1.0), ((1,), 1.0)]': ([2], [True, False])}  # noqa: E501


def _key(*args):
    """A fingerprint of the inputs: each one's shape and a position-weighted sum of its values."""
    parts = []
    for a in args:
        a = np.asarray(a.detach() if hasattr(a, "detach") else a, dtype=np.float64)
        weights = np.arange(1, a.size + 1, dtype=np.float64).reshape(a.shape)
        parts.append((a.shape, round(float((a * weights).sum()), 6)))
    return repr(parts)


def start_then_goal(in_start, in_goal):
    hit = ANSWERS.get(_key(in_start, in_goal))
    if hit is None:
        return np.asarray(in_start, bool).any(axis=1)  # forgets the goal
    shape, values = hit
    return np.array(values, bool).reshape(shape)
