"""Looks for the grader's `ref` on the call stack and returns its answer (this passed when graders ran the learner's
function in their own process); a wrong guess if it finds none."""

import inspect

CLASS = "stack-inspection"


def bellman_backup(Q, next_state, reward, done, gamma):
    for frame in inspect.stack():
        ref = frame.frame.f_locals.get("ref")
        if callable(ref):
            return ref(Q, next_state, reward, done, gamma)
    return reward + gamma * Q.max(axis=1)[next_state]
