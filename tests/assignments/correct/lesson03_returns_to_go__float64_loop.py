"""Valid: accumulate in float64, return float32 (the reference's own way, written independently)."""

import numpy as np


def returns_to_go(rewards, gamma=1.0):
    out = np.empty(len(rewards))
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = float(rewards[t]) + gamma * running
        out[t] = running
    return out.astype(np.float32)
