"""Off by one: R̂_t sums the rewards AFTER t (r_{t+1} + ...), leaving out r_t itself."""

import numpy as np


def returns_to_go(rewards, gamma=1.0):
    rtg = np.zeros(len(rewards), np.float32)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        rtg[t] = running
        running = float(rewards[t]) + gamma * running
    return rtg
