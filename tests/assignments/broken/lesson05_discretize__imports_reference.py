"""Borrows minirl's Discretizer inside the function (an import the static check sees, and the sandbox blocks)."""

import numpy as np

CLASS = "imports-reference"


def discretize(x, edges):
    from minirl.tokenizer import Discretizer

    return Discretizer(edges, np.zeros((edges.shape[0], edges.shape[1] - 1)), "quantile").encode(x)
