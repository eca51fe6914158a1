"""Subtracts running * reward: a finished env's reward is multiplied by 0, but a finished env may report NaN or inf
(it was not stepped), and 0 * nan = nan erases its R̂."""

import numpy as np

CLASS = "numerics"


def update_return_to_go(rtg, rewards, finished, rtg_scale=1.0):
    running = ~np.asarray(finished, bool)
    return (np.asarray(rtg, np.float32) - running * np.asarray(rewards, np.float32) / rtg_scale).astype(np.float32)
