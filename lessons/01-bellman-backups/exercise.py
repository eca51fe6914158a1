"""Lesson 01 · Bellman backups: your turn. Fill in each function, then check it:

    pytest tests/assignments --student -m lesson01

The grader compares your function with minirl.baselines.tabular's on dozens of random MDPs and edge cases
(terminal steps, self-loops, gamma 0 and 1, the real Minigrid room). Shapes: S states, A actions.
"""

import numpy as np


def bellman_backup(
    Q: np.ndarray, next_state: np.ndarray, reward: np.ndarray, done: np.ndarray, gamma: float
) -> np.ndarray:
    """One synchronous Bellman optimality backup of every (s, a) of a deterministic MDP.

        (T Q)(s, a) = r(s, a) + gamma * (1 - done(s, a)) * max_a' Q(s'(s, a), a')

    Args:
        Q: (S, A) float, the current estimate. Do not modify it.
        next_state: (S, A) int, the index of s' reached by taking a in s.
        reward: (S, A) float, r(s, a).
        done: (S, A) bool, True where taking a in s ends the episode (then nothing is bootstrapped).
        gamma: discount in [0, 1].
    Returns:
        (S, A) float, the backed-up Q (a new array).
    """
    raise NotImplementedError(
        "Lesson 01, exercise 1: bellman_backup (one Bellman optimality backup of a Q-table)"
    )


def q_learning_step(
    Q: np.ndarray, s: int, a: int, r: float, s_next: int, done: bool, gamma: float, alpha: float
) -> float:
    """One tabular Q-learning update from a single transition (s, a, r, s', done).

        delta = r + gamma * (1 - done) * max_a' Q(s', a') - Q(s, a)
        Q(s, a) <- Q(s, a) + alpha * delta

    Args:
        Q: (S, A) float table, updated IN PLACE (only the entry Q[s, a] changes).
        s, a: the state and action taken; r: the reward; s_next: the next state's index;
        done: True if the episode ended (s_next is then never bootstrapped); gamma: discount; alpha: step size.
    Returns:
        delta, the TD error computed BEFORE the update, as a float.
    """
    raise NotImplementedError(
        "Lesson 01, exercise 2: q_learning_step (one Q-learning update, in place)"
    )
