"""Computes in float32 whatever the inputs are ("a Q-table never needs more"): a float64 Q comes back rounded to
float32, seven digits where the grader expects sixteen."""

import numpy as np

CLASS = "dtype"


def bellman_backup(Q, next_state, reward, done, gamma):
    Q32 = Q.astype(np.float32)
    v_next = Q32.max(axis=1)[next_state]
    return (reward.astype(np.float32) + np.float32(gamma) * (~done) * v_next).astype(np.float32)
