"""Writes the 'memorised' broken solutions: each knows the answer to every FIXED case of its grader (recorded from
the reference) and guesses wrongly elsewhere, so only the fresh cases catch it. Run after changing a grader's fixed
cases:  python tests/assignments/memorise.py   (test_graders checks that each still passes the fixed cases)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import graders  # noqa: E402

from minirl.course import reference  # noqa: E402

KEY = '''def _key(*args):
    """A fingerprint of the inputs: each one's shape and a position-weighted sum of its values."""
    parts = []
    for a in args:
        a = np.asarray(a.detach() if hasattr(a, "detach") else a, dtype=np.float64)
        weights = np.arange(1, a.size + 1, dtype=np.float64).reshape(a.shape)
        parts.append((a.shape, round(float((a * weights).sum()), 6)))
    return repr(parts)
'''
_namespace: dict = {"np": np}
exec(KEY, _namespace)  # the same fingerprint here as in the written files  # noqa: S102
_key = _namespace["_key"]

# (lesson, name, signature, how a remembered answer is returned, the wrong guess for unseen inputs, imports)
MEMORISERS = [
    (
        1,
        "bellman_backup",
        "Q, next_state, reward, done, gamma",
        "np.array(values).reshape(shape)",
        "reward + gamma * Q.max(axis=1)[next_state]  # forgets done",
        "import numpy as np",
    ),
    (
        2,
        "expectile_loss",
        "diff, tau",
        None,
        "(diff**2).mean() * tau",
        "import numpy as np\nimport torch",
    ),
    (
        3,
        "returns_to_go",
        "rewards, gamma=1.0",
        "np.array(values, np.float32).reshape(shape)",
        "np.cumsum(rewards[::-1])[::-1].astype(np.float32)  # forgets gamma",
        "import numpy as np",
    ),
    (
        4,
        "causal_mask",
        "T, P=0",
        "torch.tensor(values, dtype=torch.bool).reshape(shape)",
        "torch.ones(T, P + T, dtype=torch.bool).tril()  # forgets the cache",
        "import numpy as np\nimport torch",
    ),
    (
        5,
        "undiscretize",
        "idx, centers",
        "np.array(values, np.float64).reshape(shape)",
        "centers[0][idx].astype(np.float64)  # the first dimension's centers everywhere",
        "import numpy as np",
    ),
    (
        6,
        "plan_energy",
        "log_p, plan",
        "torch.tensor(values, dtype=log_p.dtype).reshape(shape)",
        "-log_p.max(-1).values.sum(1)  # the best plan's energy",
        "import numpy as np\nimport torch",
    ),
    (
        7,
        "gini",
        "attn, allowed=None",
        "np.array(values, np.float64).reshape(shape)",
        "np.zeros(np.shape(attn)[:-1])",
        "import numpy as np",
    ),
    (
        8,
        "normalized_score",
        "ret, random_return, expert_return",
        "np.array(values, np.float64).reshape(shape)",
        "100.0 * np.asarray(ret, np.float64) / expert_return  # forgets the offset",
        "import numpy as np",
    ),
    (
        8,
        "start_then_goal",
        "in_start, in_goal",
        "np.array(values, bool).reshape(shape)",
        "np.asarray(in_start, bool).any(axis=1)  # forgets the goal",
        "import numpy as np",
    ),
]


def record(lesson: int, name: str) -> dict:
    answers = {}
    ref = reference(lesson, name)

    def recorder(*args, **kwargs):
        key = _key(*args, *kwargs.values())
        out = ref(*args, **kwargs)
        if lesson == 2:  # a loss: remember its value and gradient
            leaf = args[0].detach().clone().requires_grad_(True)
            value = ref(leaf, **kwargs)
            (grad,) = torch.autograd.grad(value, leaf)
            answers[key] = (float(value), grad.tolist())
        else:
            a = graders.as_numpy(out)
            answers[key] = (list(a.shape), a.ravel().tolist())
        return out

    graders.FRESH_CASES = False
    graders.GRADERS[(lesson, name)](recorder, ref)
    return answers


def main() -> None:
    for lesson, name, signature, build, guess, imports in MEMORISERS:
        answers = record(lesson, name)
        if build is None:
            body = (
                f"    hit = ANSWERS.get(_key(diff, tau))\n    if hit is None:\n        return {guess}\n"
                "    value, grad = hit  # the right value, and the right gradient through a zero term\n"
                "    return torch.tensor(value, dtype=diff.dtype) + (torch.tensor(grad, dtype=diff.dtype) * "
                "(diff - diff.detach())).sum()\n"
            )
        else:
            args = ", ".join(p.split("=")[0] for p in signature.split(", "))
            body = (
                f"    hit = ANSWERS.get(_key({args}))\n    if hit is None:\n        return {guess}\n"
                f"    shape, values = hit\n    return {build}\n"
            )
        text = (
            f'"""Memorises the fixed cases: the answer to every fixed case of the grader (ANSWERS, keyed by a '
            f"fingerprint\nof the inputs, written by tests/assignments/memorise.py) and a wrong guess anywhere "
            f'else. Only fresh cases\ncatch it."""\n\n{imports}\n\nCLASS = "memorised"\n'
            f"ANSWERS = {answers!r}  # noqa: E501\n\n\n{KEY}\n\ndef {name}({signature}):\n{body}"
        )
        text = text.replace("inf,", "float('inf'),").replace("nan,", "float('nan'),")
        path = Path(__file__).parent / "broken" / f"lesson{lesson:02d}_{name}__memorised.py"
        path.write_text(text)
        print(f"{path.name}: {len(answers)} cases, {len(text) // 1024} KiB")


if __name__ == "__main__":
    main()
