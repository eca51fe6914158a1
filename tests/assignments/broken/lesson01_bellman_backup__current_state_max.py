"""Takes max_a' Q(s, a') of the current state instead of the next state s'."""

import numpy as np


def bellman_backup(Q, next_state, reward, done, gamma):
    return reward + gamma * (1.0 - done) * np.asarray(Q).max(axis=1, keepdims=True)
