"""Uses Q(s', a) (the same action again) instead of max_a' Q(s', a'): not the optimality backup."""


def q_learning_step(Q, s, a, r, s_next, done, gamma, alpha):
    td_error = r + gamma * (1.0 - float(done)) * Q[s_next, a] - Q[s, a]
    Q[s, a] += alpha * td_error
    return float(td_error)
