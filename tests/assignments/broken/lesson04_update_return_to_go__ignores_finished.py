"""Keeps subtracting rewards from envs that have already finished."""

import numpy as np


def update_return_to_go(rtg, rewards, finished, rtg_scale=1.0):
    return np.array(rtg, np.float32) - np.asarray(rewards, np.float32) / rtg_scale
