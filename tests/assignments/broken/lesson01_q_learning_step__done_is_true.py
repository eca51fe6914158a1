"""Tests `done is True`: right for Python's bool, wrong for the np.bool_ a vectorized env returns (np.True_ is not
True), which then bootstraps through a terminal state. The contract is any truthy done."""

CLASS = "contract"


def q_learning_step(Q, s, a, r, s_next, done, gamma, alpha):
    target = r if done is True else r + gamma * Q[s_next].max()
    delta = float(target - Q[s, a])
    Q[s, a] += alpha * delta
    return delta
