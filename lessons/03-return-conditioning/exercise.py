"""Lesson 03 · Behaviour cloning and return conditioning: your turn. Fill in each function, then check it:

    pytest tests/assignments --student -m lesson03

References: minirl.tokenizer.returns_to_go and the loss of minirl.dt.Model.loss.
Shapes: T episode length, B batch, K window length, A action size (or number of discrete actions).
"""

import numpy as np
import torch


def returns_to_go(rewards: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    """R̂_t = Σ_{t' >= t} gamma^(t' - t) r_t'  for every step t of ONE episode.

    Args:
        rewards: (T,) the episode's rewards r_0 … r_{T-1}. Do not modify it.
        gamma: discount (DT uses 1: the plain sum of the rewards still to come).
    Returns:
        (T,) float32. R̂_0 is the episode's whole (discounted) return; R̂_{T-1} = r_{T-1}.
    """
    raise NotImplementedError(
        "Lesson 03, exercise 1: returns_to_go (the return still to come at every step)"
    )


def return_conditioned_loss(
    action_preds: torch.Tensor, actions: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """The training loss of a return-conditioned policy over a batch of left-padded windows.

    Args:
        action_preds: (B, K, A) predicted actions (continuous) or action logits (discrete).
        actions: (B, K, A) float dataset actions, or (B, K) int64 action ids (discrete).
        mask: (B, K) bool, True at real steps, False at the left padding of short windows.
    Returns:
        a scalar tensor: continuous, the mean squared error over every real step's A dimensions;
        discrete, the mean cross-entropy over real steps. Padded steps must not count at all.
    """
    raise NotImplementedError(
        "Lesson 03, exercise 2: return_conditioned_loss (masked MSE / cross-entropy)"
    )
