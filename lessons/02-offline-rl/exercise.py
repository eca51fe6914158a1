"""Lesson 02 · Offline RL: your turn. Fill in each function, then check it:

    pytest tests/assignments --student -m lesson02

Both are losses: the grader compares the value AND the gradient with minirl's (cql_penalty in
minirl/baselines/cql.py, expectile_loss in minirl/baselines/iql.py), so keep everything in torch.
Shapes: B batch, M actions scored per state.
"""

import torch


def cql_penalty(q_sampled: torch.Tensor, q_data: torch.Tensor) -> torch.Tensor:
    """CQL(H)'s conservative penalty, averaged over the batch:

        mean_b [ log Σ_j exp q_sampled[b, j]  -  q_data[b] ]

    Args:
        q_sampled: (B, M) Q-values at M actions per state (all discrete actions, or importance-weighted samples).
        q_data: (B,) Q-value at the dataset's own action.
    Returns:
        a scalar tensor (with gradients). Minimizing it pushes a soft maximum of Q down and the data's Q up.
        It must stay finite for Q-values in the thousands (torch has a stable log-sum-exp).
    """
    raise NotImplementedError(
        "Lesson 02, exercise 1: cql_penalty (log-sum-exp of Q minus Q at the data's action)"
    )


def expectile_loss(diff: torch.Tensor, tau: float) -> torch.Tensor:
    """IQL's asymmetric squared loss, averaged:  mean_i |tau - 1(diff_i < 0)| * diff_i².

    Args:
        diff: (B,) Q(s, a) - V(s) for the batch's dataset actions.
        tau: the expectile in (0, 1); tau > 0.5 weighs positive diffs (V below Q) more.
    Returns:
        a scalar tensor (with gradients).
    """
    raise NotImplementedError(
        "Lesson 02, exercise 2: expectile_loss (IQL's asymmetric squared loss)"
    )
