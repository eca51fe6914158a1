"""Valid: a float32 table updated in float32 arithmetic, done read with bool()."""

import numpy as np


def q_learning_step(Q, s, a, r, s_next, done, gamma, alpha):
    bootstrap = 0.0 if bool(done) else gamma * np.max(Q[s_next])
    delta = r + bootstrap - Q[s, a]
    Q[s, a] = Q[s, a] + alpha * delta
    return float(delta)
