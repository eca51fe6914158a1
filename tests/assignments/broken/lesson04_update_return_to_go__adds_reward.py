"""Adds the reward to R̂ instead of subtracting it: the agent asks for ever more return."""

import numpy as np


def update_return_to_go(rtg, rewards, finished, rtg_scale=1.0):
    rtg = np.array(rtg, np.float32)
    running = ~np.asarray(finished, bool)
    rtg[running] += np.asarray(rewards, np.float32)[running] / rtg_scale
    return rtg
