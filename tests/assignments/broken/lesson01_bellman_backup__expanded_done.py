"""Expands (1 - done) * v into v - done * v: algebraically the same, but at a terminal step with Q of order 1e17
r + gamma * v - gamma * v loses r entirely (catastrophic cancellation). The target of a terminal step is r, exactly."""

CLASS = "numerics"


def bellman_backup(Q, next_state, reward, done, gamma):
    v_next = Q.max(axis=1)[next_state]
    return reward + gamma * v_next - gamma * done * v_next
