"""Right values, wrong dtype: returns float64 where the docstring promises float32 (the dataset stores R̂ as
float32; a float64 array doubles every batch's memory and silently promotes the model's inputs)."""

import numpy as np

CLASS = "dtype"


def returns_to_go(rewards, gamma=1.0):
    out = np.zeros(len(rewards))
    running = 0.0
    for t in reversed(range(len(rewards))):
        running = rewards[t] + gamma * running
        out[t] = running
    return out
