"""Returns float32 values (as minirl's own Discretizer.decode does): the exercise promises float64, and 0.1 or 1/3
are not float32 numbers."""

import numpy as np

CLASS = "dtype"


def undiscretize(idx, centers):
    return np.take_along_axis(np.asarray(centers, np.float32).T, idx.reshape(-1, idx.shape[-1]), 0).reshape(idx.shape)
