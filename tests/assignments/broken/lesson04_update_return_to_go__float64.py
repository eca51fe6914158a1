"""Right values, wrong dtype: float64 R̂ where the docstring promises float32."""

import numpy as np

CLASS = "dtype"


def update_return_to_go(rtg, rewards, finished, rtg_scale=1.0):
    new = np.array(rtg, np.float64)
    running = ~np.asarray(finished, bool)
    new[running] -= np.asarray(rewards, np.float64)[running] / rtg_scale
    return new
