"""Valid: computes in the input's own dtype (float32 maps give float32 entropies), torch or numpy input."""

import numpy as np


def row_entropy(attn, allowed=None):
    p = attn.numpy() if hasattr(attn, "numpy") else np.asarray(attn)
    if allowed is not None:
        p = np.where(allowed, p, p.dtype.type(0))
    plogp = np.zeros_like(p)
    np.multiply(p, np.log(p, where=p > 0, out=np.ones_like(p)), out=plogp, where=p > 0)
    return -plogp.sum(-1)
