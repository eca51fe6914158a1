"""Lesson 04 · Decision Transformer: your turn. Fill in each function, then check it:

    pytest tests/assignments --student -m lesson04

References: the token layout of minirl.dt.Model.forward, the mask of minirl.transformer.Transformer.forward, and
minirl.dt.Agent.observe (as tested twins in minirl/course.py). Shapes: B batch, K steps, D width, N envs.
"""

import numpy as np
import torch


def interleave_tokens(
    returns: torch.Tensor, states: torch.Tensor, actions: torch.Tensor
) -> torch.Tensor:
    """DT's token stream from per-step embeddings.

    Args:
        returns, states, actions: (B, K, D) embeddings of R̂_t, s_t, a_t for the K steps of each window.
    Returns:
        (B, 3K, D) ordered R̂_1, s_1, a_1, R̂_2, s_2, a_2, ... (token 3t is R̂_t, 3t+1 is s_t, 3t+2 is a_t).
    """
    raise NotImplementedError(
        "Lesson 04, exercise 1: interleave_tokens ([R̂, s, a] per step, in order)"
    )


def causal_mask(T: int, P: int = 0) -> torch.Tensor:
    """The causal attention mask, with P earlier tokens already in a key/value cache.

    Args:
        T: new tokens (the queries), at absolute positions P … P+T-1.
        P: tokens already processed (their keys are cached), at positions 0 … P-1.
    Returns:
        (T, P+T) bool, True where query i may attend key j: exactly when j <= P + i (itself and the past).
    """
    raise NotImplementedError("Lesson 04, exercise 2: causal_mask (who may attend to whom)")


def update_return_to_go(
    rtg: np.ndarray, rewards: np.ndarray, finished: np.ndarray, rtg_scale: float = 1.0
) -> np.ndarray:
    """DT's R̂ update after one environment step, for N envs acting together.

        R̂_{t+1} = R̂_t - r_t / rtg_scale        (only for envs that were still running)

    Args:
        rtg: (N,) the scaled R̂ each env conditioned on. Do not modify it.
        rewards: (N,) the raw rewards just received.
        finished: (N,) bool, envs already done BEFORE this step: their R̂ stays as it is.
        rtg_scale: the scale R̂ is divided by (HalfCheetah 1000, BabyAI 1).
    Returns:
        (N,) float32, the new R̂.
    """
    raise NotImplementedError("Lesson 04, exercise 3: update_return_to_go (act()'s R̂ bookkeeping)")
