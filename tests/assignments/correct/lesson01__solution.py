"""Lesson 01, solved as a learner would (no minirl imports)."""

import numpy as np


def bellman_backup(Q, next_state, reward, done, gamma):
    v_next = Q.max(axis=1)[next_state]  # (S, A)
    return reward + gamma * np.where(done, 0.0, v_next)


def q_learning_step(Q, s, a, r, s_next, done, gamma, alpha):
    target = r if done else r + gamma * Q[s_next].max()
    delta = float(target - Q[s, a])
    Q[s, a] += alpha * delta
    return delta
