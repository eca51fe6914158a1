"""Bootstraps through terminal steps: the goal's reward plus the value of a state that never comes."""

import numpy as np


def bellman_backup(Q, next_state, reward, done, gamma):
    return reward + gamma * np.asarray(Q).max(axis=1)[next_state]
