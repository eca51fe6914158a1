"""Sums the past (a forward cumulative sum) instead of the future."""

import numpy as np


def returns_to_go(rewards, gamma=1.0):
    rtg = np.zeros(len(rewards), np.float32)
    running = 0.0
    for t in range(len(rewards)):
        running = float(rewards[t]) + gamma * running
        rtg[t] = running
    return rtg
