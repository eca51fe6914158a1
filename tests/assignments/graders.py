"""The graders: one function per exercise, comparing an implementation with the reference on many inputs.

    grade_<name>(fn, ref) -> "40/40 cases"      or raises GradeError naming the first wrong case

`fn` is what is graded (the learner's function run in the sandbox of sandbox.py, or the reference itself when the
suite checks that it is green); `ref` is the reference from `minirl.course.reference` (the real minirl function, or
its tested twin). Every grader runs
- fixed cases: seeds 0, 1, ... and the edge cases a plausible bug gets wrong (episode boundaries, padding, ties,
  values on bin edges, the cases each lesson discusses);
- as many fresh cases, drawn from a run seed that changes every run (MINIRL_GRADER_SEED=S repeats run S; the seed
  is printed with every failure), so a solution that memorises the fixed cases' answers still fails;
- the whole stated contract: leading batch dimensions where the docstring says (..., D), float32 and float64
  inputs, the dtype the docstring promises, and numerically hard inputs (identical values, values one ulp from a
  threshold, huge and tiny magnitudes) that an unstable formula gets wrong.
Floats are compared with tolerances scaled to the inputs' dtype (`tolerance`): a float32 case allows float32
rounding, a float64 case does not allow float32 rounding. Failure messages print the case's inputs and values at
full precision (the shortest repr that round-trips). A NotImplementedError raised by `fn` passes through untouched:
an exercise not started yet is not a wrong answer. Any other exception inside a case counts as a wrong case.

`grade_file(lesson, name, path, sandbox)` grades a learner's exercise.py (static check, then the sandbox):
`minirl lessons` and `pytest tests/assignments --student` both go through it.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch


def _load_sandbox():
    """sandbox.py next to this file, imported by path (graders.py itself may be loaded by path, by minirl.course)."""
    if "minirl_sandbox" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "minirl_sandbox", Path(__file__).with_name("sandbox.py")
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules["minirl_sandbox"] = module
        spec.loader.exec_module(module)
    return sys.modules["minirl_sandbox"]


sandbox = _load_sandbox()

GRADERS: dict[tuple[int, str], Callable] = {}
RUN_SEED = int(os.environ.get("MINIRL_GRADER_SEED") or np.random.SeedSequence().entropy % 2**31)
FRESH_CASES = os.environ.get("MINIRL_GRADER_FRESH", "1") not in ("0", "")  # 0: only the fixed cases


def grader(lesson: int, name: str):
    def register(fn):
        GRADERS[(lesson, name)] = fn
        return fn

    return register


class GradeError(AssertionError):
    """A wrong answer: the message names the exercise, the score and the first wrong case."""


# ---------------------------------------------------------------------------------------------- cases


def seeds(n: int):
    """n fixed cases (seed 0 … n-1), then n fresh ones from this run's seed: yields (label, rng)."""
    for seed in range(n):
        yield f"seed {seed}", np.random.default_rng(seed)
    for k in range(n if FRESH_CASES else 0):
        yield f"fresh case {k} of run seed {RUN_SEED}", np.random.default_rng([RUN_SEED, k])


def fresh_rng(salt: int) -> np.random.Generator | None:
    """A generator for the fresh variants of a grader's hand-written edge cases (None when fresh cases are off)."""
    return np.random.default_rng([RUN_SEED, 10_000 + salt]) if FRESH_CASES else None


def float_dtype(rng) -> type:
    """Half the random cases in float32, half in float64."""
    return np.float32 if rng.random() < 0.5 else np.float64


# ---------------------------------------------------------------------------------------------- comparing


EPS = {np.dtype(np.float16): 2**-10, np.dtype(np.float32): 2**-23, np.dtype(np.float64): 2**-52}


def tolerance(*inputs, k32: float = 128, k64: float = 4096) -> float:
    """The relative tolerance for a case: k machine epsilons of its lowest-precision float input (float32: k32 ·
    1.2e-7, float64: k64 · 2.2e-16). Ints and bools count as float64."""
    dtypes = [np.dtype(x) if isinstance(x, (type, np.dtype)) else as_numpy(x).dtype for x in inputs]
    dtypes = [d for d in dtypes if d.kind == "f"]
    if any(d.itemsize <= 4 for d in dtypes):
        return k32 * EPS[np.dtype(np.float32)]
    return k64 * EPS[np.dtype(np.float64)]


def magnitude(*inputs) -> float:
    """max(1, the largest finite |value| among the inputs): the scale of the rounding a sum of them carries."""
    biggest = [
        np.abs(a[np.isfinite(a)]).max()
        for a in (as_numpy(x).astype(np.float64) for x in inputs)
        if a.size and np.isfinite(a).any()
    ]
    return max([1.0, *map(float, biggest)])


def as_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, sandbox.Unsendable):
        raise TypeError(repr(x))
    return np.asarray(x)


def show(x, limit: int = 8) -> str:
    """Values at full precision (the shortest repr that reads back to the same float), with shape and dtype."""
    if isinstance(x, (int, float, bool, str)) or x is None:
        return repr(x)
    if isinstance(x, sandbox.Unsendable):
        return repr(x)
    a = as_numpy(x)
    kind = "tensor" if isinstance(x, torch.Tensor) else "array"
    flat = a.ravel()
    text = np.array2string(flat[:limit], separator=", ", floatmode="unique", max_line_width=10**6)
    if flat.size > limit:
        text = f"{text[:-1]}, ...]"
    return f"{text} ({kind} shape {a.shape}, {a.dtype})"


def scalar(x) -> str:
    return (
        np.format_float_positional(x, unique=True)
        if isinstance(x, (float, np.floating))
        else repr(x)
    )


def difference(
    got, want, rtol: float = 1e-5, atol: float | None = None, dtype: bool = False
) -> str | None:
    """None when got matches want, else why not. Shapes must match; ints and bools exactly, floats to rtol (and
    atol, default rtol · max(1, max |want|)); torch must come back as torch and numpy as numpy; with dtype=True the
    dtype must be want's (where the exercise's docstring promises one)."""
    # atol defaults to rtol: each entry to its own precision (a grader passes atol = rtol · magnitude of the inputs
    # where the exact answer is a difference of large numbers, and rounding of that size is legitimate)
    if got is None:
        return "returned None"
    if isinstance(got, sandbox.Unsendable):
        return f"returned {got!r}"
    if isinstance(want, torch.Tensor) != isinstance(got, torch.Tensor):
        return (
            f"returned a {type(got).__name__}, expected a "
            f"{'torch tensor' if isinstance(want, torch.Tensor) else 'numpy array or number'}"
        )
    try:
        g, w = as_numpy(got), as_numpy(want)
    except (TypeError, ValueError) as e:
        return f"returned something that is not an array: {e}"
    if g.shape != w.shape:
        return f"shape {g.shape}, expected {w.shape}"
    if dtype and g.dtype != w.dtype:
        return f"dtype {g.dtype}, expected {w.dtype} (the docstring promises it)"
    if w.dtype.kind in "biu":
        if g.dtype.kind not in "biu":
            return f"dtype {g.dtype}, expected an integer/bool array like {w.dtype}"
        wrong = g != w
    else:
        if g.dtype.kind not in "biuf":
            return f"dtype {g.dtype}, expected a float array like {w.dtype}"
        g64, w64 = g.astype(np.float64), w.astype(np.float64)
        atol = rtol if atol is None else atol
        wrong = ~np.isclose(g64, w64, rtol=rtol, atol=atol, equal_nan=True)
    if not wrong.any():
        return None
    tol = "" if w.dtype.kind in "biu" else f" (tolerance rtol {rtol:.1e}, atol {atol:.1e})"
    if w.ndim == 0:
        return f"expected {scalar(w.item())}, got {scalar(g.item())}{tol}"
    at = tuple(int(i) for i in np.argwhere(wrong)[0])
    return (
        f"expected {show(w)}, got {show(g)}; first difference at index {at}: expected {scalar(w[at].item())}, "
        f"got {scalar(g[at].item())}{tol} ({int(wrong.sum())} of {wrong.size} entries differ)"
    )


class Grade:
    """Counts cases for one exercise; `result()` returns the score line or raises GradeError."""

    def __init__(self, lesson: int, name: str):
        self.lesson, self.name = lesson, name
        self.passed, self.total, self.failures = 0, 0, []
        self.inputs = ""  # the inputs of the latest call, shown with a failure

    def call(self, case: str, fn, *args, shown: str | None = None, **kwargs):
        """fn(*args) -> (ok, output). An exception is a wrong case, except NotImplementedError, which propagates:
        the exercise is not started. `shown`: the inputs to print with a failure (default: args and kwargs)."""
        self.inputs = (
            shown
            if shown is not None
            else ", ".join([show(a) for a in args] + [f"{k}={show(v)}" for k, v in kwargs.items()])
        )
        try:
            return True, fn(*args, **kwargs)
        except NotImplementedError:
            raise
        except Exception as e:  # noqa: BLE001
            self.fail(
                case,
                f"raised {type(e).__name__}: {e}"
                if not isinstance(e, sandbox.RemoteError)
                else f"raised {e}",
            )
            return False, None

    def check(
        self,
        case: str,
        got,
        want,
        rtol: float = 1e-5,
        atol: float | None = None,
        dtype: bool = False,
    ) -> bool:
        return self.require(case, difference(got, want, rtol, atol, dtype))

    def require(self, case: str, problem: str | None) -> bool:
        """problem None: the case passes; a string: it fails for that reason."""
        self.total += 1
        if problem is None:
            self.passed += 1
            return True
        self.failures.append(
            f"{case}: {problem}" + (f"\n  inputs: {self.inputs}" if self.inputs else "")
        )
        return False

    def fail(self, case: str, problem: str) -> None:
        self.require(case, problem)

    def result(self) -> str:
        head = f"Lesson {self.lesson:02d} · {self.name}: {self.passed}/{self.total} cases correct"
        if self.failures:
            more = f" (and {len(self.failures) - 1} more wrong)" if len(self.failures) > 1 else ""
            fresh = (
                f"\n  fresh cases came from run seed {RUN_SEED}: MINIRL_GRADER_SEED={RUN_SEED} repeats them"
                if FRESH_CASES
                else ""
            )
            raise GradeError(
                f"{head}, score {self.passed / self.total:.2f}.\n  first wrong case: "
                f"{self.failures[0]}{more}{fresh}"
            )
        return f"{self.passed}/{self.total} cases"


def rejected(lesson: int, name: str, problem: str) -> GradeError:
    return GradeError(
        f"Lesson {lesson:02d} · {name}: 0/1 cases correct, score 0.00 (not graded).\n"
        f"  first wrong case: the static check: {problem}"
    )


def grade_file(lesson: int, name: str, path: Path, box, static: bool = True) -> str:
    """Grades function `name` of a learner's exercise file: the static check (`sandbox.static_check`), then the
    grader with the function run in `box` (a sandbox.Sandbox). Raises GradeError or NotImplementedError."""
    from minirl.course import reference

    problem = sandbox.static_check(path, name) if static else None
    if problem is None and not sandbox.defines(path, name):
        problem = f"exercise.py has no function {name}"
    if problem:
        raise rejected(lesson, name, problem)
    return GRADERS[(lesson, name)](box.function(path, name), reference(lesson, name))


def run_grader(lesson: int, name: str, path: Path, box) -> dict:
    """{"status": 'passing'|'failing'|'not started', "detail": one line} for `minirl lessons`."""
    try:
        score = grade_file(lesson, name, path, box)
    except NotImplementedError as e:
        return {"status": "not started", "detail": str(e) or "NotImplementedError"}
    except GradeError as e:
        return {"status": "failing", "detail": " ".join(str(e).split())}
    except Exception as e:  # noqa: BLE001  (a crash outside any case, e.g. a wrong signature)
        return {"status": "failing", "detail": f"raised {type(e).__name__}: {e}".splitlines()[0]}
    return {"status": "passing", "detail": score}


def loss_and_grads(fn, *inputs: torch.Tensor, **kwargs):
    """(value, [d value / d input for every float input]) of a loss on fresh leaf copies of the inputs; a function
    in the sandbox computes it there (an autograd graph cannot cross processes)."""
    if isinstance(fn, sandbox.RemoteFunction):
        return fn.loss_and_grads(*inputs, **kwargs)
    return sandbox.loss_and_grads(fn, *inputs, **kwargs)


def check_loss(g: Grade, case: str, fn, ref, *inputs, rtol=None, **kwargs) -> None:
    """The loss's value and its gradient with respect to every input must match the reference's, in the inputs'
    dtype (a float64 loss must come back float64)."""
    rtol = rtol or tolerance(*inputs)
    shown = ", ".join([show(a) for a in inputs] + [f"{k}={show(v)}" for k, v in kwargs.items()])
    ok, got = g.call(case, loss_and_grads, fn, *inputs, shown=shown, **kwargs)
    if not ok:
        return
    want = loss_and_grads(ref, *inputs, **kwargs)
    atol = rtol * magnitude(*inputs)  # a loss is a difference of sums of the inputs
    if g.check(f"{case} (value)", got[0], want[0], rtol, atol, dtype=True):
        for i, (gg, wg) in enumerate(zip(got[1], want[1])):
            g.check(f"{case} (gradient w.r.t. float input {i})", gg, wg, rtol, rtol)


# ---------------------------------------------------------------------------------------------- cases worked by hand

# Every grader also checks these (last, after its own cases): inputs small enough to work out with pencil and paper,
# the expected output written as a literal (the arithmetic in the comment), never computed by the reference. They make
# a broken REFERENCE fail its own grader in the default run, where the function graded is the reference itself.
# (label, args, kwargs, expected, kind); kind "value" (one output), "tuple" (several), "loss" (value and the
# gradient w.r.t. every float input), "in_place" (returned value, then the first argument after the call),
# "floats" (a tuple of Python floats).
LN2, LN3, LN4, LN10 = (float(np.log(v)) for v in (2.0, 3.0, 4.0, 10.0))
_P = np.log(
    [[[0.5, 0.25, 0.25], [0.25, 0.5, 0.25], [0.1, 0.1, 0.8]]]
)  # (1, 3, 3) LEAP conditionals


def _f64(x) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64)


HAND: dict[tuple[int, str], list[tuple]] = {
    (1, "bellman_backup"): [
        (
            # max_a' Q = [2, 3]; (0,0): 0.5 + 0.5·3, (0,1): -1 + 0.5·2, (1,0): terminal 0, (1,1): 2 + 0.5·3
            "S=2, A=2, one terminal step, gamma 0.5",
            (
                np.array([[1.0, 2.0], [3.0, 0.0]]),
                np.array([[1, 0], [1, 1]]),
                np.array([[0.5, -1.0], [0.0, 2.0]]),
                np.array([[False, False], [True, False]]),
                0.5,
            ),
            {},
            np.array([[2.0, 0.0], [0.0, 3.5]]),
            "value",
        )
    ],
    (1, "q_learning_step"): [
        (
            # target 1 + 0.5·max(2, 4) = 3; delta = 3 - Q(0, 1) = 2; Q(0, 1) += 0.5·2
            "Q = [[0, 1], [2, 4]], (s, a, r, s') = (0, 1, 1, 1), gamma 0.5, alpha 0.5",
            (np.array([[0.0, 1.0], [2.0, 4.0]]), 0, 1, 1.0, 1, False, 0.5, 0.5),
            {},
            (2.0, np.array([[0.0, 2.0], [2.0, 4.0]])),
            "in_place",
        ),
        (
            # terminal: target = r = 2; delta = 2 - 1 = 1; Q(0, 1) += 0.5·1
            "the same step, terminal, r = 2",
            (np.array([[0.0, 1.0], [2.0, 4.0]]), 0, 1, 2.0, 1, True, 0.5, 0.5),
            {},
            (1.0, np.array([[0.0, 1.5], [2.0, 4.0]])),
            "in_place",
        ),
    ],
    (2, "cql_penalty"): [
        (
            # log Σ exp: ln(1 + 3) = 2 ln 2 and 1 + ln 2; minus q_data [0, 1]; mean (3 ln 2) / 2
            # gradients: softmax rows / B = [[1/8, 3/8], [1/4, 1/4]], and -1/B for q_data
            "q_sampled [[0, ln 3], [1, 1]], q_data [0, 1]",
            (_f64([[0.0, LN3], [1.0, 1.0]]), _f64([0.0, 1.0])),
            {},
            (_f64(1.5 * LN2), [_f64([[0.125, 0.375], [0.25, 0.25]]), _f64([-0.5, -0.5])]),
            "loss",
        )
    ],
    (2, "expectile_loss"): [
        (
            # weights 0.7 (u >= 0) and 0.3 (u < 0): (0.7·4 + 0.3·1) / 2 = 1.55; gradient 2 w u / B = [1.4, -0.3]
            "diff [2, -1], tau 0.7",
            (_f64([2.0, -1.0]),),
            {"tau": 0.7},
            (_f64(1.55), [_f64([1.4, -0.3])]),
            "loss",
        )
    ],
    (3, "returns_to_go"): [
        # 3; 2 + 0.5·3 = 3.5; 1 + 0.5·3.5 = 2.75
        (
            "rewards [1, 2, 3], gamma 0.5",
            (np.array([1.0, 2.0, 3.0], np.float32), 0.5),
            {},
            np.array([2.75, 3.5, 3.0], np.float32),
            "value",
        ),
        ("one step", (np.array([5.0], np.float32), 0.9), {}, np.array([5.0], np.float32), "value"),
    ],
    (3, "return_conditioned_loss"): [
        (
            # real steps 1, 2: ((2 - 1)² + (3 - 1)²) / 2 = 2.5; d/dpred = 2 (pred - a) / 2 = [0, 1, 2]
            "continuous, the padded step holds action 100",
            (
                _f64([[[1.0], [2.0], [3.0]]]),
                _f64([[[100.0], [1.0], [1.0]]]),
                torch.tensor([[False, True, True]]),
            ),
            {},
            (_f64(2.5), [_f64([[[0.0], [1.0], [2.0]]]), _f64([[[0.0], [-1.0], [-2.0]]])]),
            "loss",
        ),
        (
            # one real step, uniform logits over 2 actions: ln 2; gradient softmax - one-hot = [0.5, -0.5]
            "discrete, uniform logits, one real step",
            (
                _f64([[[0.0, 0.0], [0.0, 0.0]]]),
                torch.tensor([[0, 1]]),
                torch.tensor([[False, True]]),
            ),
            {},
            (_f64(LN2), [_f64([[[0.0, 0.0], [0.5, -0.5]]])]),
            "loss",
        ),
    ],
    (4, "interleave_tokens"): [
        (
            "R̂ = [1, 2], s = [10, 20], a = [100, 200]: R̂_1, s_1, a_1, R̂_2, s_2, a_2",
            (_f64([[[1.0], [2.0]]]), _f64([[[10.0], [20.0]]]), _f64([[[100.0], [200.0]]])),
            {},
            _f64([[[1.0], [10.0], [100.0], [2.0], [20.0], [200.0]]]),
            "value",
        )
    ],
    (4, "causal_mask"): [
        (
            "T=3, P=0",
            (3, 0),
            {},
            torch.tensor([[True, False, False], [True, True, False], [True, True, True]]),
            "value",
        ),
        # queries at absolute positions 1 and 2 see keys 0..1 and 0..2
        (
            "T=2 after P=1",
            (2, 1),
            {},
            torch.tensor([[True, True, False], [True, True, True]]),
            "value",
        ),
    ],
    (4, "update_return_to_go"): [
        (
            # env 0: 6 - 1000 / 1000 = 5; env 1 finished: stays 2
            "R̂ [6, 2], rewards [1000, 5], env 1 finished, rtg_scale 1000",
            (
                np.array([6.0, 2.0], np.float32),
                np.array([1000.0, 5.0], np.float32),
                np.array([False, True]),
                1000.0,
            ),
            {},
            np.array([5.0, 2.0], np.float32),
            "value",
        )
    ],
    (5, "fit_quantile_bins"): [
        (
            # quantiles 0, 0.5, 1 of 0..3: 0, 1.5, 3; bin means {0, 1} 0.5 and {2, 3} 2.5
            "x = 0, 1, 2, 3 in 2 bins",
            (np.array([[0.0], [1.0], [2.0], [3.0]]), 2),
            {},
            (np.array([[0.0, 1.5, 3.0]]), np.array([[0.5, 2.5]])),
            "tuple",
        )
    ],
    (5, "discretize"): [
        (
            # an edge opens its bin; the top edge is in the last bin; outside values clip
            "edges 0, 1, 2, 3",
            (
                np.array([[-1.0], [0.0], [0.5], [1.0], [2.999], [3.0], [5.0]]),
                np.array([[0.0, 1.0, 2.0, 3.0]]),
            ),
            {},
            np.array([[0], [0], [0], [1], [2], [2], [2]]),
            "value",
        ),
        (
            "two dimensions, each with its own edges",
            (np.array([[1.0, 10.0], [0.5, 25.0]]), np.array([[0.0, 1.0, 2.0], [10.0, 20.0, 30.0]])),
            {},
            np.array([[1, 0], [0, 1]]),
            "value",
        ),
    ],
    (5, "undiscretize"): [
        (
            "two dimensions, each with its own centers",
            (np.array([[1, 0], [0, 1]]), np.array([[0.5, 1.5], [15.0, 25.0]])),
            {},
            np.array([[1.5, 15.0], [0.5, 25.0]]),
            "value",
        )
    ],
    (5, "beam_step"): [
        (
            # scores r + 0.5 V: env 0 rows 6, 2, 3; env 1 rows 5, 1.5, 0 -> keep rows 0, 2 and 3, 4
            "2 envs x 3 candidates, keep 2, gamma 0.5",
            (
                _f64([[1.0, 10.0], [2.0, 0.0], [0.0, 6.0], [5.0, 0.0], [1.0, 1.0], [0.0, 0.0]]),
                2,
                2,
                0.5,
            ),
            {},
            (torch.tensor([0, 2, 3, 4]), _f64([[6.0, 3.0], [5.0, 1.5]])),
            "tuple",
        )
    ],
    (6, "plan_energy"): [
        # -(ln 0.5 + ln 0.5 + ln 0.8) = 2 ln 2 - ln 0.8
        (
            "plan [0, 1, 2]",
            (_f64(_P), torch.tensor([[0, 1, 2]])),
            {},
            _f64([2 * LN2 - float(np.log(0.8))]),
            "value",
        ),
    ],
    (6, "refine_step"): [
        (
            # token energies ln 4, ln 4, ln 10: token 2 takes its likeliest action 2; E before = 4 ln 2 + ln 10
            "plan [2, 0, 0]",
            (_f64(_P), torch.tensor([[2, 0, 0]])),
            {},
            (torch.tensor([[2, 0, 2]]), _f64([2 * LN4 + LN10])),
            "tuple",
        )
    ],
    (7, "row_entropy"): [
        (
            "two of four keys, then uniform",
            (np.array([[0.5, 0.5, 0, 0], [0.25] * 4]), None),
            {},
            np.array([LN2, LN4]),
            "value",
        ),
    ],
    (7, "keys_for_mass"): [
        # 0.5 + 0.4 reaches 0.9 with 2 of 4 keys; uniform needs ceil(3.6) = 4 of 4; one-hot 1 of 4
        (
            "mass 0.9",
            (np.array([[0.5, 0.4, 0.1, 0.0], [0.25] * 4, [0, 0, 1.0, 0]]), 0.9, None),
            {},
            np.array([0.5, 1.0, 0.25]),
            "value",
        ),
    ],
    (7, "gini"): [
        # sorted ascending, weights 2i - n - 1 = -3, -1, 1, 3 over n = 4: (0.5 + 1.5) / 4, 0, 3 / 4
        (
            "two of four keys, uniform, one-hot",
            (np.array([[0.5, 0.5, 0, 0], [0.25] * 4, [0, 0, 0, 1.0]]), None),
            {},
            np.array([0.5, 0.0, 0.75]),
            "value",
        ),
        # causal: row 0 sees one key (0); row 1 sorted 0.2, 0.8 with weights -1, 1: 0.6 / 2
        (
            "causal 2 x 2",
            (np.array([[1.0, 0.0], [0.2, 0.8]]), np.array([[True, False], [True, True]])),
            {},
            np.array([0.0, 0.3]),
            "value",
        ),
    ],
    (8, "normalized_score"): [
        ("random 100, expert 200, return 150", (150.0, 100.0, 200.0), {}, np.array(50.0), "value"),
        ("an array", (np.array([100.0, 300.0]), 100.0, 200.0), {}, np.array([0.0, 200.0]), "value"),
        # D4RL's HalfCheetah: the midpoint of -280.178953 and 12135
        (
            "HalfCheetah's midpoint",
            (5927.4105235, -280.178953, 12135.0),
            {},
            np.array(50.0),
            "value",
        ),
    ],
    (8, "mean_and_std"): [
        # mean 2.5; population variance (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25
        (
            "1, 2, 3, 4",
            (np.array([1.0, 2.0, 3.0, 4.0]),),
            {},
            (2.5, float(np.sqrt(1.25))),
            "floats",
        ),
        ("one seed", (np.array([42.0]),), {}, (42.0, 0.0), "floats"),
    ],
    (8, "start_then_goal"): [
        # the goal region only at step 2: cell 0 (step 0) and cell 2 (step 1) come before it, cell 1 (step 3) after
        (
            "three cells, one goal visit",
            (
                np.array([[1, 0, 0, 0], [0, 0, 0, 1], [0, 1, 0, 0]], bool),
                np.array([0, 0, 1, 0], bool),
            ),
            {},
            np.array([True, False, True]),
            "value",
        ),
        # in the start cell and the goal region at step 1: t' = t counts
        (
            "start and goal at the same step",
            (np.array([[0, 1, 0]], bool), np.array([0, 1, 0], bool)),
            {},
            np.array([True]),
            "value",
        ),
        # goal at step 0, start at step 2, goal again at step 4: the later goal visit counts
        (
            "goal, then start, then goal again",
            (np.array([[0, 0, 1, 0, 0]], bool), np.array([1, 0, 0, 0, 1], bool)),
            {},
            np.array([True]),
            "value",
        ),
        # the goal at steps 0 and 1 only, the start cell at step 3: too late
        (
            "goal only before the start",
            (np.array([[0, 0, 0, 1]], bool), np.array([1, 1, 0, 0], bool)),
            {},
            np.array([False]),
            "value",
        ),
        (
            "never reaches the goal",
            (np.array([[1, 1], [0, 1]], bool), np.array([0, 0], bool)),
            {},
            np.array([False, False]),
            "value",
        ),
        # one step, in cell 0 and the goal region
        (
            "T = 1",
            (np.array([[1], [0]], bool), np.array([1], bool)),
            {},
            np.array([True, False]),
            "value",
        ),
    ],
}


def hand_cases(g: Grade, fn, rtol: float = 1e-6) -> None:
    """Grades fn on the exercise's HAND cases: literal expected values, so the reference cannot grade itself."""
    for label, args, kwargs, want, kind in HAND.get((g.lesson, g.name), []):
        case, args = f"by hand: {label}", copy.deepcopy(args)
        if kind == "loss":
            ok, got = g.call(case, loss_and_grads, fn, *args, **kwargs)
            if ok and g.check(f"{case} (value)", got[0], want[0], rtol):
                for i, (gg, wg) in enumerate(zip(got[1], want[1])):
                    g.check(f"{case} (gradient w.r.t. float input {i})", gg, wg, rtol)
            continue
        ok, got = g.call(case, fn, *args, **kwargs)
        if not ok:
            continue
        if kind == "in_place":
            if g.require(case, difference(float(got), want[0], rtol)):
                g.check(f"{case} (the table after the update)", args[0], want[1], rtol)
        elif kind == "floats":
            if not isinstance(got, tuple) or not all(isinstance(v, float) for v in got):
                g.fail(case, f"must return a tuple of floats, got {show(got)}")
            else:
                g.require(case, difference(np.asarray(got), np.asarray(want), rtol))
        elif kind == "tuple":
            if not isinstance(got, tuple) or len(got) != len(want):
                g.fail(case, f"must return a tuple of {len(want)}, got {show(got)}")
            else:
                for i, (gg, ww) in enumerate(zip(got, want)):
                    g.check(f"{case} (output {i})", gg, ww, rtol)
        else:
            g.check(case, got, want, rtol)


# ---------------------------------------------------------------------------------------------- lesson 01


def random_mdp(rng, S: int, A: int, p_done: float = 0.2, dtype=np.float64):
    return (
        rng.integers(S, size=(S, A)),
        rng.normal(size=(S, A)).round(2).astype(dtype),
        rng.random((S, A)) < p_done,
    )


@grader(1, "bellman_backup")
def grade_bellman_backup(fn, ref) -> str:
    g = Grade(1, "bellman_backup")
    cases = []
    for label, rng in seeds(30):
        S, A = int(rng.integers(1, 12)), int(rng.integers(1, 5))
        gamma, dt = float(rng.choice([0.0, 0.5, 0.9, 0.99, 1.0])), float_dtype(rng)
        ns, r, done = random_mdp(rng, S, A, dtype=dt)
        cases.append(
            (
                f"{label}: S={S}, A={A}, gamma={gamma}, {dt.__name__}",
                rng.normal(size=(S, A)).astype(dt),
                ns.astype(rng.choice([np.int64, np.int32])),
                r,
                done,
                gamma,
            )
        )
    rng = np.random.default_rng(100)
    ns, r, _ = random_mdp(rng, 5, 3)
    cases.append(
        (
            "every step ends the episode (no bootstrapping at all)",
            rng.normal(size=(5, 3)),
            ns,
            r,
            np.ones((5, 3), bool),
            0.9,
        )
    )
    cases.append(
        ("no step ends the episode", rng.normal(size=(5, 3)), ns, r, np.zeros((5, 3), bool), 0.9)
    )
    cases.append(
        (
            "one state looping to itself",
            np.array([[1.0, 3.0]]),
            np.zeros((1, 2), int),
            np.array([[0.5, -1.0]]),
            np.zeros((1, 2), bool),
            0.5,
        )
    )
    for label, r2 in (("fixed", rng), ("fresh", fresh_rng(1))):
        if r2 is None:
            continue
        # huge Q at terminal steps: r must come back exactly
        ns, r, done = random_mdp(r2, 6, 3, p_done=0.5)
        cases.append(
            (
                f"{label}: Q of order 1e17, half the steps terminal (no cancellation allowed)",
                r2.normal(size=(6, 3)) * 1e17,
                ns,
                r,
                done,
                0.99,
            )
        )
        cases.append(
            (
                f"{label}: every Q equal (ties in the max)",
                np.full((6, 3), float(r2.normal())),
                ns,
                r,
                done,
                0.9,
            )
        )
    from minirl.baselines.tabular import build_mdp

    mdp = build_mdp()
    cases.append(
        (
            "the Minigrid room of lesson 01, Q = 0",
            np.zeros(mdp.next_state.shape),
            mdp.next_state,
            mdp.reward,
            mdp.done,
            0.9,
        )
    )
    cases.append(
        (
            "the Minigrid room of lesson 01, random Q",
            rng.random(mdp.next_state.shape),
            mdp.next_state,
            mdp.reward,
            mdp.done,
            0.9,
        )
    )
    for case, Q, ns, r, done, gamma in cases:
        Q_before = Q.copy()
        ok, got = g.call(case, fn, Q, ns, r, done, gamma)
        if ok and g.check(case, got, ref(Q_before, ns, r, done, gamma), tolerance(Q, r)):
            g.require(
                f"{case} (input Q unchanged)",
                None
                if np.array_equal(Q, Q_before)
                else "the input Q was modified: return a new array",
            )
    hand_cases(g, fn)
    return g.result()


@grader(1, "q_learning_step")
def grade_q_learning_step(fn, ref) -> str:
    """Half the random cases pass numpy scalars (np.int64 states, np.float32 rewards, np.bool_ done), as a
    vectorized environment's step returns them."""
    g = Grade(1, "q_learning_step")
    cases = []
    for label, rng in seeds(30):
        S, A = int(rng.integers(1, 8)), int(rng.integers(1, 4))
        dt = float_dtype(rng)
        s, a, s_next = int(rng.integers(S)), int(rng.integers(A)), int(rng.integers(S))
        r, done = float(rng.normal()), bool(rng.random() < 0.3)
        numpy_scalars = rng.random() < 0.5
        if numpy_scalars:
            s, a, s_next, r, done = (
                np.int64(s),
                np.int64(a),
                np.int64(s_next),
                dt(r),
                np.bool_(done),
            )
        kind = "numpy scalars" if numpy_scalars else "Python scalars"
        cases.append(
            (
                f"{label}: S={S}, A={A}, {dt.__name__} table, {kind}, done={bool(done)}",
                rng.normal(size=(S, A)).astype(dt),
                s,
                a,
                r,
                s_next,
                done,
                float(rng.choice([0.5, 0.9, 0.99])),
                float(rng.choice([0.1, 0.5, 1.0])),
            )
        )
    rng = np.random.default_rng(200)
    Q = rng.normal(size=(4, 3))
    cases.append(("terminal transition (done=True): no bootstrap", Q, 1, 2, 1.0, 3, True, 0.9, 0.5))
    cases.append(
        (
            "terminal transition given as np.bool_(True) (what an env returns)",
            Q,
            1,
            2,
            1.0,
            3,
            np.bool_(True),
            0.9,
            0.5,
        )
    )
    cases.append(("s' == s (a self-loop)", Q, 2, 0, 0.0, 2, False, 0.9, 0.5))
    cases.append(("alpha = 1 (Q(s, a) becomes the target)", Q, 0, 1, -1.0, 3, False, 0.9, 1.0))
    cases.append(
        (
            "alpha = 0 (nothing moves, the TD error is still returned)",
            Q,
            0,
            1,
            2.0,
            3,
            False,
            0.9,
            0.0,
        )
    )
    cases.append(
        (
            "Q of order 1e17 at a terminal step (delta = r - Q(s, a) exactly)",
            Q * 1e17,
            1,
            1,
            0.5,
            2,
            True,
            0.99,
            0.5,
        )
    )
    for case, Q, s, a, r, s_next, done, gamma, alpha in cases:
        got_Q, want_Q = Q.copy(), Q.copy()
        ok, got = g.call(case, fn, got_Q, s, a, r, s_next, done, gamma, alpha)
        want = ref(want_Q, s, a, r, s_next, done, gamma, alpha)
        if not ok:
            continue
        if not isinstance(got, (float, int, np.floating, np.integer)) or isinstance(got, bool):
            g.fail(
                f"{case} (returned TD error)",
                f"must return the TD error as a float, got {show(got)}",
            )
            continue
        if g.require(f"{case} (returned TD error)", difference(float(got), want, tolerance(Q))):
            g.check(f"{case} (Q after the in-place update)", got_Q, want_Q, tolerance(Q))
    hand_cases(g, fn)
    return g.result()


# ---------------------------------------------------------------------------------------------- lesson 02


def _tensor(x, dt) -> torch.Tensor:
    return torch.tensor(np.asarray(x), dtype=torch.float32 if dt == np.float32 else torch.float64)


@grader(2, "cql_penalty")
def grade_cql_penalty(fn, ref) -> str:
    g = Grade(2, "cql_penalty")
    for label, rng in seeds(25):
        B, M, dt = int(rng.integers(1, 9)), int(rng.integers(1, 12)), float_dtype(rng)
        q_sampled, q_data = (
            _tensor(rng.normal(0, 3, size=(B, M)), dt),
            _tensor(rng.normal(0, 3, size=B), dt),
        )
        check_loss(g, f"{label}: B={B}, M={M}, {dt.__name__}", fn, ref, q_sampled, q_data)
    big = torch.tensor([[1000.0, 999.0, 1001.0], [-1000.0, -1002.0, -999.0]])
    check_loss(
        g,
        "Q-values near ±1000 (log Σ exp must not overflow)",
        fn,
        ref,
        big,
        torch.tensor([1000.0, -1000.0]),
    )
    check_loss(
        g,
        "one sampled action (M = 1)",
        fn,
        ref,
        torch.tensor([[2.0], [-1.0]]),
        torch.tensor([0.5, 0.5]),
    )
    check_loss(g, "all Q equal (the penalty is log M)", fn, ref, torch.zeros(3, 7), torch.zeros(3))
    for label, rng in (("fixed", np.random.default_rng(300)), ("fresh", fresh_rng(2))):
        if rng is None:
            continue
        # one state: Q from -1000 to 1000
        spread = _tensor(rng.uniform(-1000, 1000, size=(4, 6)), np.float64)
        check_loss(
            g,
            f"{label}: Q spread over ±1000 within a state (any shift but the max overflows)",
            fn,
            ref,
            spread,
            spread[:, 0].clone(),
        )
        low = _tensor(rng.normal(-20000, 1, size=(3, 5)), np.float64)
        check_loss(
            g,
            f"{label}: every Q near -20000 (exp underflows to 0 unshifted)",
            fn,
            ref,
            low,
            low[:, 1].clone(),
        )
        same = _tensor(np.full((2, 9), rng.normal(0, 100)), np.float64)
        check_loss(
            g, f"{label}: 9 identical Q-values (log 9 exactly)", fn, ref, same, same[:, 0].clone()
        )
    hand_cases(g, fn)
    return g.result()


@grader(2, "expectile_loss")
def grade_expectile_loss(fn, ref) -> str:
    g = Grade(2, "expectile_loss")
    for label, rng in seeds(25):
        B, dt = int(rng.integers(1, 40)), float_dtype(rng)
        tau = float(rng.choice([0.5, 0.7, 0.9, 0.1, 0.99]))
        check_loss(
            g,
            f"{label}: B={B}, tau={tau}, {dt.__name__}",
            fn,
            ref,
            _tensor(rng.normal(0, 2, size=B), dt),
            tau=tau,
        )
    check_loss(g, "every diff positive, tau=0.9", fn, ref, torch.tensor([0.5, 1.0, 2.0]), tau=0.9)
    check_loss(
        g, "every diff negative, tau=0.9", fn, ref, torch.tensor([-0.5, -1.0, -2.0]), tau=0.9
    )
    check_loss(
        g, "diff exactly 0 among others, tau=0.7", fn, ref, torch.tensor([0.0, -1.0, 1.0]), tau=0.7
    )
    check_loss(g, "one element, tau=0.3", fn, ref, torch.tensor([-2.0]), tau=0.3)
    check_loss(
        g,
        "diffs of ±1e-30 (the sign decides the weight), float64",
        fn,
        ref,
        torch.tensor([1e-30, -1e-30, 2e-30], dtype=torch.float64),
        tau=0.9,
    )
    check_loss(
        g,
        "tau near 1 (0.999999), float64",
        fn,
        ref,
        torch.tensor([0.3, -0.2, 1.5], dtype=torch.float64),
        tau=0.999999,
    )
    hand_cases(g, fn)
    return g.result()


# ---------------------------------------------------------------------------------------------- lesson 03


@grader(3, "returns_to_go")
def grade_returns_to_go(fn, ref) -> str:
    """The output must be float32 (as the docstring says); long episodes and gamma 0.5 catch closed forms that
    divide by gamma^t."""
    g = Grade(3, "returns_to_go")
    cases = []
    for label, rng in seeds(25):
        T, dt = int(rng.integers(1, 60)), float_dtype(rng)
        gamma = float(rng.choice([1.0, 0.99, 0.9, 0.5]))
        cases.append(
            (
                f"{label}: T={T}, gamma={gamma}, {dt.__name__} rewards",
                rng.normal(size=T).astype(dt),
                gamma,
            )
        )
    cases += [
        ("a one-step episode", np.array([3.0], np.float32), 0.99),
        (
            "a sparse reward at the very end (BabyAI)",
            np.r_[np.zeros(9), 0.8].astype(np.float32),
            0.9,
        ),
        ("a reward only at the first step", np.r_[1.0, np.zeros(5)].astype(np.float32), 1.0),
        ("gamma = 0 (R̂_t = r_t)", np.arange(5, dtype=np.float32), 0.0),
    ]
    for label, rng in (("fixed", np.random.default_rng(301)), ("fresh", fresh_rng(3))):
        if rng is None:
            continue
        cases += [
            (
                f"{label}: a 2000-step episode, gamma 0.5 (gamma^-t overflows)",
                rng.normal(size=2000),
                0.5,
            ),
            (
                f"{label}: a 1000-step HalfCheetah-like episode, gamma 1",
                rng.normal(5, 1, size=1000).astype(np.float32),
                1.0,
            ),
        ]
    for case, rewards, gamma in cases:
        before = rewards.copy()
        ok, got = g.call(case, fn, rewards, gamma)
        want = ref(before, gamma)
        if ok and g.check(
            case,
            got,
            want,
            8 * tolerance(want),
            8 * tolerance(want) * magnitude(np.cumsum(rewards)),
            dtype=True,
        ):
            g.require(
                f"{case} (rewards unchanged)",
                None if np.array_equal(rewards, before) else "the input rewards were modified",
            )
    hand_cases(g, fn)
    return g.result()


@grader(3, "return_conditioned_loss")
def grade_return_conditioned_loss(fn, ref) -> str:
    g = Grade(3, "return_conditioned_loss")
    for label, rng in seeds(24):
        B, K, A = int(rng.integers(1, 5)), int(rng.integers(1, 8)), int(rng.integers(1, 7))
        discrete, dt = bool(rng.random() < 0.5), float_dtype(rng)
        real = rng.integers(1, K + 1, size=B)  # real steps per window, at the end (left padding)
        mask = torch.tensor(np.arange(K)[None] >= K - real[:, None])
        preds = _tensor(rng.normal(size=(B, K, A)), dt)
        actions = (
            torch.tensor(rng.integers(A, size=(B, K)))
            if discrete
            else _tensor(rng.uniform(-1, 1, (B, K, A)), dt)
        )
        kind = "discrete" if discrete else "continuous"
        check_loss(
            g,
            f"{label}: {kind}, {dt.__name__}, B={B}, K={K}, A={A}, real steps {real.tolist()}",
            fn,
            ref,
            preds,
            actions,
            mask,
        )
    preds, actions = torch.ones(1, 4, 2), torch.zeros(1, 4, 2)
    actions[0, 0] = 100.0  # the padded step holds garbage: it must not count
    mask = torch.tensor([[False, True, True, True]])
    check_loss(
        g, "left padding holding garbage actions (continuous)", fn, ref, preds, actions, mask
    )
    garbage = torch.zeros(2, 3, 2, dtype=torch.float64)
    garbage[:, 0] = float("nan")  # a padded step may hold anything, even NaN
    check_loss(
        g,
        "left padding holding NaN actions (continuous, float64)",
        fn,
        ref,
        torch.ones(2, 3, 2, dtype=torch.float64),
        garbage,
        torch.tensor([[False, True, True]] * 2),
    )
    check_loss(
        g,
        "a window with one real step (discrete)",
        fn,
        ref,
        torch.randn(2, 3, 7, generator=torch.Generator().manual_seed(0)),
        torch.tensor([[0, 0, 6], [1, 2, 3]]),
        torch.tensor([[False, False, True]] * 2),
    )
    check_loss(
        g,
        "no padding at all (discrete, float64 logits)",
        fn,
        ref,
        torch.randn(3, 2, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64),
        torch.tensor([[0, 3], [2, 1], [3, 3]]),
        torch.ones(3, 2, dtype=torch.bool),
    )
    hand_cases(g, fn)
    return g.result()


# ---------------------------------------------------------------------------------------------- lesson 04


@grader(4, "interleave_tokens")
def grade_interleave_tokens(fn, ref) -> str:
    """Exact comparison (a permutation of the inputs), in the inputs' dtype; some inputs are non-contiguous views
    (the contract is any (B, K, D) tensor)."""
    g = Grade(4, "interleave_tokens")
    for label, rng in seeds(20):
        B, K, D, dt = (
            int(rng.integers(1, 4)),
            int(rng.integers(1, 7)),
            int(rng.integers(1, 6)),
            float_dtype(rng),
        )
        R, s, a = (_tensor(rng.normal(size=(B, K, D)), dt) for _ in range(3))
        view = rng.random() < 0.4
        if view:  # the same values as (B, D, K) tensors transposed: not contiguous
            R, s, a = (x.transpose(1, 2).contiguous().transpose(1, 2) for x in (R, s, a))
        case = f"{label}: B={B}, K={K}, D={D}, {dt.__name__}{', non-contiguous' if view else ''}"
        ok, got = g.call(case, fn, R, s, a)
        if ok:
            g.check(case, got, ref(R, s, a), 0.0, 0.0, dtype=True)
    K = 3  # tokens that say who they are: R̂ = 100 + t, s = 200 + t, a = 300 + t
    labelled = [
        torch.arange(K, dtype=torch.float32).view(1, K, 1) + base for base in (100.0, 200.0, 300.0)
    ]
    ok, got = g.call("labelled tokens", fn, *labelled)
    if ok:
        g.check(
            "labelled tokens R̂_t = 100+t, s_t = 200+t, a_t = 300+t (expect 100, 200, 300, 101, ...)",
            got,
            ref(*labelled),
            0.0,
            0.0,
            dtype=True,
        )
    hand_cases(g, fn)
    return g.result()


@grader(4, "causal_mask")
def grade_causal_mask(fn, ref) -> str:
    g = Grade(4, "causal_mask")
    cases = [(T, 0) for T in (1, 2, 3, 5, 9, 16)] + [
        (T, P) for T, P in ((1, 1), (1, 7), (3, 2), (4, 5), (6, 6))
    ]
    cases += [(int(rng.integers(1, 24)), int(rng.integers(0, 24))) for _, rng in seeds(10)]
    for T, P in cases:
        case = f"T={T} new tokens after P={P} cached ones"
        ok, got = g.call(case, fn, T, P)
        if not ok:
            continue
        want = ref(T, P)
        if g.check(case, got, want, dtype=True):
            got = as_numpy(got).astype(bool)
            g.require(
                f"{case}: no query sees a later token",
                None if not (got & ~as_numpy(want)).any() else "the mask leaks the future",
            )
    hand_cases(g, fn)
    return g.result()


@grader(4, "update_return_to_go")
def grade_update_return_to_go(fn, ref) -> str:
    """float32 out (as the docstring says); an env that has finished may report any reward (NaN, inf): its R̂ stays."""
    g = Grade(4, "update_return_to_go")
    cases = []
    for label, rng in seeds(20):
        N, dt = int(rng.integers(1, 9)), float_dtype(rng)
        scale = float(rng.choice([1.0, 1000.0, 0.5]))
        cases.append(
            (
                f"{label}: N={N}, rtg_scale={scale}, {dt.__name__} R̂",
                rng.normal(3, 2, size=N).astype(dt),
                rng.normal(size=N).astype(np.float32),
                rng.random(N) < 0.3,
                scale,
            )
        )
    cases += [
        (
            "every env already finished",
            np.array([1.0, 2.0], np.float32),
            np.array([5.0, 5.0], np.float32),
            np.array([True, True]),
            1.0,
        ),
        (
            "a negative reward raises R̂",
            np.array([1.0], np.float32),
            np.array([-2.0], np.float32),
            np.array([False]),
            1.0,
        ),
        (
            "HalfCheetah scale: R̂ 6 (= 6000 / 1000), reward 5",
            np.array([6.0], np.float32),
            np.array([5.0], np.float32),
            np.array([False]),
            1000.0,
        ),
        (
            "finished envs report NaN and inf rewards (they were not stepped): their R̂ stays",
            np.array([1.0, 2.0, 3.0], np.float32),
            np.array([np.nan, 0.5, np.inf], np.float32),
            np.array([True, False, True]),
            1.0,
        ),
    ]
    for case, rtg, rewards, finished, scale in cases:
        before = rtg.copy()
        ok, got = g.call(case, fn, rtg, rewards, finished, scale)
        if ok and g.check(
            case, got, ref(before, rewards, finished, scale), tolerance(np.float32), dtype=True
        ):
            g.require(
                f"{case} (input unchanged)",
                None if np.array_equal(rtg, before) else "the input was modified",
            )
    hand_cases(g, fn)
    return g.result()


# ---------------------------------------------------------------------------------------------- lesson 05


def _data(rng, kind: str, N: int, D: int) -> np.ndarray:
    if kind == "normal":
        return rng.normal(size=(N, D))
    if kind == "exponential":
        return rng.exponential(size=(N, D))
    # "ties": many repeated values, empty bins
    return rng.integers(0, 4, size=(N, D)).astype(np.float64)


def _leading(rng) -> tuple:
    return [(), (int(rng.integers(0, 4)),), (2, int(rng.integers(1, 5))), (2, 1, 3)][
        int(rng.integers(4))
    ]


@grader(5, "fit_quantile_bins")
def grade_fit_quantile_bins(fn, ref) -> str:
    g = Grade(5, "fit_quantile_bins")
    cases = []
    for label, rng in seeds(18):
        kind = ["normal", "exponential", "ties"][int(rng.integers(3))]
        N, D, n_bins = (
            int(rng.integers(20, 300)),
            int(rng.integers(1, 4)),
            int(rng.choice([1, 2, 5, 10, 32])),
        )
        dt = float_dtype(rng)
        cases.append(
            (
                f"{label}: {kind} data, N={N}, D={D}, n_bins={n_bins}, {dt.__name__}",
                _data(rng, kind, N, D).astype(dt),
                n_bins,
            )
        )
    rng = np.random.default_rng(302)
    x = rng.normal(size=(50, 2))
    x[:, 1] = 3.25
    cases.append(("a constant dimension (every edge equal, all but one bin empty)", x, 4))
    cases.append(("N smaller than n_bins (5 values, 8 bins)", rng.normal(size=(5, 1)), 8))
    for case, x, n_bins in cases:
        ok, got = g.call(case, fn, x.copy(), n_bins)
        if not ok:
            continue
        if not isinstance(got, tuple) or len(got) != 2:
            g.fail(case, "must return a tuple (edges, centers)")
            continue
        edges, centers = ref(x, n_bins)
        if g.check(f"{case} (edges)", got[0], edges, tolerance(x)):
            g.check(f"{case} (centers)", got[1], centers, tolerance(x), dtype=True)
    hand_cases(g, fn)
    return g.result()


@grader(5, "discretize")
def grade_discretize(fn, ref) -> str:
    """Values exactly on edges and one float64 ulp either side of them, out of range, any leading shape."""
    g = Grade(5, "discretize")
    from minirl.course import fit_quantile_bins

    for label, rng in seeds(18):
        kind = ["normal", "exponential", "ties"][int(rng.integers(3))]
        D, n_bins = int(rng.integers(1, 4)), int(rng.choice([1, 3, 8, 20]))
        edges, _ = fit_quantile_bins(_data(rng, kind, 200, D), n_bins)
        # values ON edges
        on = np.take_along_axis(edges.T, rng.integers(0, n_bins + 1, size=(12, D)), 0)
        x = np.concatenate(
            [_data(rng, kind, 30, D) * 1.5, on, np.nextafter(on, np.inf), np.nextafter(on, -np.inf)]
        )
        lead = _leading(rng)
        x = (
            rng.permutation(x)[: int(np.prod(lead)) if lead else 1].reshape(*lead, D)
            if rng.random() < 0.4
            else x
        )
        case = f"{label}: {kind} data, D={D}, n_bins={n_bins}, x {x.shape}, on/one ulp off edges, out of range"
        ok, got = g.call(case, fn, x.copy(), edges.copy())
        if ok:
            g.check(case, got, ref(x, edges), dtype=True)
    edges = np.array([[0.0, 1.0, 2.0, 3.0]])
    x = np.array([[-5.0], [0.0], [1.0], [1.5], [2.0], [3.0], [9.0]])
    ok, got = g.call("x on every edge of bins [0,1), [1,2), [2,3]", fn, x, edges)
    if ok:
        g.check(
            "x = -5, 0, 1, 1.5, 2, 3, 9 with edges 0, 1, 2, 3 (expect 0, 0, 1, 1, 2, 2, 2)",
            got,
            ref(x, edges),
        )
    for shape in [(2, 5, 1), (1,), (0, 1), (2, 3, 4, 1)]:
        xs = np.random.default_rng(303).uniform(-1, 4, size=shape)
        ok, got = g.call(f"leading batch dimensions: x {shape}", fn, xs, edges)
        if ok:
            g.check(f"leading batch dimensions: x {shape}", got, ref(xs, edges), dtype=True)
    # float32 neighbours of the edge 1
    x32 = np.array([[0.999999940395], [1.0], [1.00000011920929]], np.float32)
    ok, got = g.call("float32 x next to an edge", fn, x32, edges)
    if ok:
        g.check(
            "float32 x next to an edge (the float32 neighbours of 1.0)",
            got,
            ref(x32, edges),
            dtype=True,
        )
    hand_cases(g, fn)
    return g.result()


@grader(5, "undiscretize")
def grade_undiscretize(fn, ref) -> str:
    g = Grade(5, "undiscretize")
    for label, rng in seeds(15):
        D, n_bins = int(rng.integers(1, 5)), int(rng.integers(1, 12))
        centers = np.sort(rng.normal(size=(D, n_bins)), axis=1)
        lead = _leading(rng)
        idx = rng.integers(0, n_bins, size=(*lead, D)).astype(rng.choice([np.int64, np.int32]))
        case = f"{label}: D={D}, n_bins={n_bins}, ids {idx.shape} {idx.dtype}"
        ok, got = g.call(case, fn, idx.copy(), centers.copy())
        if ok:
            g.check(case, got, ref(idx, centers), tolerance(centers), dtype=True)
    centers = np.array([[10.0, 20.0, 30.0], [-1.0, -2.0, -3.0]])  # D = 2, 3 bins
    idx = np.array([[0, 2], [2, 0], [1, 1]])
    ok, got = g.call("two dimensions with different centers", fn, idx, centers)
    if ok:
        g.check(
            "centers [[10, 20, 30], [-1, -2, -3]], ids [[0, 2], [2, 0], [1, 1]] (expect 10, -3, 30, -1, 20, -2)",
            got,
            ref(idx, centers),
            dtype=True,
        )
    fine = np.array([[0.1, 1 / 3, 2.718281828459045]])  # centers float32 cannot hold
    ok, got = g.call("centers that float32 cannot represent", fn, np.array([[0], [1], [2]]), fine)
    if ok:
        g.check(
            "centers 0.1, 1/3, e (float64, kept exactly)",
            got,
            ref(np.array([[0], [1], [2]]), fine),
            tolerance(fine),
            dtype=True,
        )
    hand_cases(g, fn)
    return g.result()


@grader(5, "beam_step")
def grade_beam_step(fn, ref) -> str:
    """Scores must equal the reference's (best first) at the rewards' precision; kept rows must belong to their env
    and carry those scores; among tied candidates any choice is right (torch.topk itself does not promise which)."""
    g = Grade(5, "beam_step")
    cases = []
    for label, rng in seeds(20):
        n, C, H = int(rng.integers(1, 4)), int(rng.integers(1, 9)), int(rng.integers(1, 6))
        K, dt = int(rng.integers(1, C + 1)), float_dtype(rng)
        cases.append(
            (
                f"{label}: n_envs={n}, {C} candidates each, keep {K}, H={H}, {dt.__name__}",
                _tensor(rng.normal(size=(n * C, H + 1)), dt),
                n,
                K,
                float(rng.choice([1.0, 0.99, 0.5])),
            )
        )
    ties = torch.tensor([[1.0, 0.0], [2.0, 0.0], [2.0, 0.0], [1.0, 0.0], [0.5, 0.0], [2.0, 0.0]])
    cases.append(("ties: one env, candidates scoring 1, 2, 2, 1, 0.5, 2, keep 2", ties, 1, 2, 1.0))
    cases.append(("ties: two envs of three, keep 1 each", ties, 2, 1, 1.0))
    cases.append(("keep every candidate (beam_width = candidates)", ties, 2, 3, 0.9))
    near = torch.tensor(
        [[1.0, 0.0], [1.0 + 3e-9, 0.0], [1.0 - 3e-9, 0.0], [1.0 + 6e-9, 0.0]], dtype=torch.float64
    )
    cases.append(
        (
            "near-ties 3e-9 apart in float64 (float32 cannot tell them apart), keep 2",
            near,
            1,
            2,
            1.0,
        )
    )
    for case, rewards, n, K, discount in cases:
        ok, got = g.call(case, fn, rewards.clone(), n, K, discount)
        if not ok:
            continue
        if not isinstance(got, tuple) or len(got) != 2:
            g.fail(case, "must return a tuple (keep, scores)")
            continue
        if not all(isinstance(x, torch.Tensor) for x in got):
            g.fail(
                case,
                f"keep and scores must be torch tensors, got {show(got[0])} and {show(got[1])}",
            )
            continue
        keep, scores = got
        want_keep, want_scores = ref(rewards, n, K, discount)
        if not g.check(
            f"{case} (scores, best first)",
            scores,
            want_scores,
            tolerance(rewards),
            tolerance(rewards) * magnitude(rewards),
        ):
            continue
        C = len(rewards) // n
        candidate = (rewards * discount ** torch.arange(rewards.shape[1], dtype=rewards.dtype)).sum(
            -1
        )
        problem = None
        if keep.shape != want_keep.shape or torch.is_floating_point(keep):
            problem = f"keep must be {tuple(want_keep.shape)} integer row indices, got {tuple(keep.shape)} {keep.dtype}"
        elif not ((keep >= 0) & (keep < len(rewards))).all():
            problem = f"row index out of range in {show(keep)}"
        elif not torch.equal(keep.view(n, K) // C, torch.arange(n)[:, None].expand(n, K)):
            problem = f"a kept row belongs to another env: {show(keep)} (env e owns rows e*{C} .. e*{C}+{C - 1})"
        elif len(set(keep.tolist())) != len(keep):
            problem = f"a candidate was kept twice: {show(keep)}"
        elif not torch.allclose(
            candidate[keep].view(n, K),
            want_scores.to(candidate.dtype),
            rtol=tolerance(rewards),
            atol=tolerance(rewards),
        ):
            problem = f"the kept rows {show(keep)} do not have the best scores {show(want_scores)}"
        g.require(f"{case} (kept rows)", problem)
    hand_cases(g, fn)
    return g.result()


# ---------------------------------------------------------------------------------------------- lesson 06


def _conditionals(rng, B: int, L: int, V: int, sharp: float = 2.0, dt=np.float64) -> torch.Tensor:
    return _tensor(rng.normal(0, sharp, size=(B, L, V)), dt).log_softmax(-1)


def _impossible_actions(rng, B: int, L: int, V: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Conditionals where some actions are impossible (log p = -inf, e.g. masked out), and a plan avoiding them."""
    scores = rng.normal(0, 2, size=(B, L, V))
    plan = rng.integers(V, size=(B, L))
    blocked = rng.random((B, L, V)) < 0.4
    blocked[np.arange(B)[:, None], np.arange(L)[None], plan] = False
    return torch.tensor(np.where(blocked, -np.inf, scores)).log_softmax(-1), torch.tensor(plan)


def _random_plans(n: int) -> list[tuple]:
    """n seeded cases of (label, conditionals (B, L, V) log-probs, plan (B, L)) for the lesson 06 graders."""
    cases = []
    for label, rng in seeds(n):
        B, L, V, dt = (
            int(rng.integers(1, 5)),
            int(rng.integers(1, 9)),
            int(rng.integers(2, 8)),
            float_dtype(rng),
        )
        cases.append(
            (
                f"{label}: B={B}, L={L}, V={V}, {dt.__name__}",
                _conditionals(rng, B, L, V, dt=dt),
                torch.tensor(rng.integers(V, size=(B, L))),
            )
        )
    return cases


@grader(6, "plan_energy")
def grade_plan_energy(fn, ref) -> str:
    g = Grade(6, "plan_energy")
    cases = _random_plans(20)
    certain = torch.full((1, 3, 4), -30.0)
    certain[0, :, 2] = 0.0
    cases.append(
        (
            "the model is sure of every token of the plan (E = 0)",
            certain.log_softmax(-1),
            torch.tensor([[2, 2, 2]]),
        )
    )
    cases.append(
        (
            "a one-token plan",
            _conditionals(np.random.default_rng(7), 2, 1, 7),
            torch.tensor([[3], [0]]),
        )
    )
    for label, rng in (("fixed", np.random.default_rng(306)), ("fresh", fresh_rng(6))):
        if rng is not None:
            cases.append(
                (
                    f"{label}: impossible actions (log p = -inf) the plan does not take",
                    *_impossible_actions(rng, 3, 5, 6),
                )
            )
    for case, log_p, plan in cases:
        ok, got = g.call(case, fn, log_p.clone(), plan.clone())
        if ok:
            g.check(case, got, ref(log_p, plan), tolerance(log_p), dtype=True)
    hand_cases(g, fn)
    return g.result()


@grader(6, "refine_step")
def grade_refine_step(fn, ref) -> str:
    g = Grade(6, "refine_step")
    cases = _random_plans(20)
    log_p = torch.log(
        torch.tensor([[[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1]]], dtype=torch.float64)
    )
    cases.append(
        (
            "a plan already at its minimum (every token is its own argmax): unchanged",
            log_p,
            torch.tensor([[0, 1, 0]]),
        )
    )
    cases.append(("the worst token is the last one", log_p, torch.tensor([[0, 1, 2]])))
    tied = torch.log(torch.full((1, 3, 2), 0.5, dtype=torch.float64))
    cases.append(
        (
            "every token ties (the first highest-energy token, the first likeliest action)",
            tied,
            torch.tensor([[1, 1, 1]]),
        )
    )
    near = torch.log(
        torch.tensor(
            [[[0.5, 0.5 - 1e-9, 1e-9], [0.5 - 2e-9, 0.5 + 2e-9, 0.0], [0.6, 0.4, 0.0]]],
            dtype=torch.float64,
        ).clamp_min(1e-300)
    )
    cases.append(
        (
            "near-ties 1e-9 apart in float64 (token 1's energy is the highest; its best action is 1)",
            near,
            torch.tensor([[1, 0, 0]]),
        )
    )
    for label, rng in (("fixed", np.random.default_rng(307)), ("fresh", fresh_rng(7))):
        if rng is not None:
            cases.append(
                (
                    f"{label}: impossible actions (log p = -inf) the plan does not take",
                    *_impossible_actions(rng, 3, 5, 6),
                )
            )
    for case, log_p, plan in cases:
        before = plan.clone()
        ok, got = g.call(case, fn, log_p.clone(), plan)
        if not ok:
            continue
        if not isinstance(got, tuple) or len(got) != 2:
            g.fail(case, "must return a tuple (new_plan, energy)")
            continue
        want = ref(log_p, before)
        if g.check(f"{case} (new plan)", got[0], want[0]) and g.check(
            f"{case} (energy before the step)", got[1], want[1], tolerance(log_p), dtype=True
        ):
            g.require(
                f"{case} (input plan unchanged)",
                None
                if torch.equal(plan, before)
                else "the input plan was modified in place: clone it first",
            )
    hand_cases(g, fn)
    return g.result()


# ---------------------------------------------------------------------------------------------- lesson 07


def _attention_maps(rng, shape, allowed, sharp: float, dt=np.float64):
    """Random attention (..., Tq, Tk) whose rows sum to 1 over the allowed keys."""
    scores = np.where(allowed, rng.normal(0, sharp, size=shape), -np.inf)
    p = np.exp(scores - scores.max(-1, keepdims=True))
    return (p / p.sum(-1, keepdims=True)).astype(dt)


# the reference gets a numpy copy: analysis casts torch input to float32
def _attention_cases(n: int):
    """Square causal and bidirectional maps, rectangular ones (Tq new queries after P cached keys: Tq < Tk), numpy
    and torch, float32 and float64."""
    cases = []
    for label, rng in seeds(n):
        T, P = int(rng.integers(1, 9)), int(rng.integers(1, 6)) if rng.random() < 0.35 else 0
        shape = (int(rng.integers(1, 3)), int(rng.integers(1, 4)), T, P + T)
        # with P > 0 and not causal: Tq queries over P + T keys, all visible
        causal = rng.random() < 0.5
        sharp, dt = float(rng.choice([0.1, 1.0, 5.0])), float_dtype(rng)
        allowed = (
            np.arange(P + T)[None, :] <= np.arange(P, P + T)[:, None]
            if causal
            else np.ones((T, P + T), bool)
        )
        attn = _attention_maps(rng, shape, allowed, sharp, dt)
        # torch maps in float32, as the models make them (analysis reads them so)
        as_torch = rng.random() < 0.3
        attn = attn.astype(np.float32) if as_torch else attn
        kind = ("rectangular " if P else "") + ("causal" if causal else "bidirectional")
        cases.append(
            (
                f"{label}: {kind}, shape {shape}, sharpness {sharp}, {attn.dtype}"
                f"{', torch' if as_torch else ''}",
                torch.tensor(attn) if as_torch else attn,
                allowed if causal else None,
            )
        )
    T = 4
    cases.append(("one-hot rows (entropy 0, one key holds everything)", np.eye(T)[None], None))
    cases.append(("uniform rows over all keys", np.full((T, T), 1 / T), None))
    uniform_causal = np.tril(np.ones((T, T))) / np.arange(1, T + 1)[:, None]
    cases.append(
        (
            "uniform over the visible keys of a causal map",
            uniform_causal,
            np.tril(np.ones((T, T), bool)),
        )
    )
    wide = np.array([[0.4, 0.3, 0.1, 0.1, 0.05, 0.05, 0.0], [0.9, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1]])
    cases.append(("2 queries over 7 keys (Tq != Tk)", wide, None))
    return cases


def _copy(x):
    return x.clone() if isinstance(x, torch.Tensor) else x.copy()


@grader(7, "row_entropy")
def grade_row_entropy(fn, ref) -> str:
    g = Grade(7, "row_entropy")
    for case, attn, allowed in _attention_cases(16):
        ok, got = g.call(case, fn, _copy(attn), allowed)
        if ok:
            g.check(case, got, ref(as_numpy(attn), allowed), tolerance(attn))
    hand_cases(g, fn)
    return g.result()


@grader(7, "keys_for_mass")
def grade_keys_for_mass(fn, ref) -> str:
    g = Grade(7, "keys_for_mass")
    for i, (case, attn, allowed) in enumerate(_attention_cases(16)):
        mass = [0.9, 0.5, 0.99][i % 3]
        ok, got = g.call(case, fn, _copy(attn), mass, allowed)
        if ok:
            g.check(
                f"{case}, mass {mass}", got, ref(as_numpy(attn), mass, allowed), tolerance(attn)
            )
    exact = np.array([[0.5, 0.4, 0.1, 0.0]])
    ok, got = g.call("mass reached exactly by two keys", fn, exact, 0.9, None)
    if ok:
        g.check(
            "weights 0.5, 0.4, 0.1, 0 and mass 0.9 (two of four keys: 0.5)",
            got,
            ref(exact, 0.9, None),
        )
    rounding = np.array([[0.57, 0.23, 0.2]])  # 0.57 + 0.23 = 0.7999999999999999 in float64
    ok, got = g.call("mass reached up to rounding", fn, rounding, 0.8, None)
    if ok:
        g.check(
            "weights 0.57, 0.23, 0.2 and mass 0.8: 0.57 + 0.23 is 0.7999999999999999 in float64, which reaches "
            "0.8 up to 1e-9 (two of three keys)",
            got,
            ref(rounding, 0.8, None),
        )
    hand_cases(g, fn)
    return g.result()


@grader(7, "gini")
def grade_gini(fn, ref) -> str:
    g = Grade(7, "gini")
    for case, attn, allowed in _attention_cases(12):
        ok, got = g.call(case, fn, _copy(attn), allowed)
        if ok:
            g.check(case, got, ref(as_numpy(attn), allowed), tolerance(attn))
    hand_cases(g, fn)
    return g.result()


# ---------------------------------------------------------------------------------------------- lesson 08


@grader(8, "normalized_score")
def grade_normalized_score(fn, ref) -> str:
    """float64 out, the input's shape (a float gives a 0-d value); int returns (an integer array) work too."""
    g = Grade(8, "normalized_score")
    from minirl.envs import ENVS

    cheetah = ENVS["halfcheetah"]
    cases = [
        ("HalfCheetah's random return (score 0)", cheetah.ref_min_score, cheetah),
        ("HalfCheetah's expert return (score 100)", cheetah.ref_max_score, cheetah),
        ("a return of 0", 0.0, cheetah),
        ("a medium-level return 4800", 4800.0, cheetah),
        ("an array of returns", np.array([-500.0, 1000.0, 13000.0]), cheetah),
        ("an integer array of returns", np.array([-500, 1000, 13000]), cheetah),
        (
            "a 2-D array (seeds × episodes)",
            np.array([[4770.5, 4771.25], [12135.0, -280.178953]]),
            cheetah,
        ),
        ("one return 1 above the random return", cheetah.ref_min_score + 1.0, cheetah),
    ]
    for case, ret, spec in cases:
        before = copy.deepcopy(ret)
        ok, got = g.call(case, fn, ret, spec.ref_min_score, spec.ref_max_score)
        if ok and g.check(
            case,
            got,
            ref(before, spec.ref_min_score, spec.ref_max_score),
            tolerance(np.float64),
            dtype=True,
        ):
            g.require(
                f"{case} (input unchanged)",
                None if np.array_equal(ret, before) else "the input was modified",
            )
    for label, rng in seeds(10):
        lo, hi = float(rng.normal(-100, 50)), float(rng.normal(1000, 300))
        ret = rng.normal(500, 500, size=int(rng.integers(1, 6)))
        ok, got = g.call(label, fn, ret.copy(), lo, hi)
        if ok:
            g.check(
                f"{label}: random {lo!r}, expert {hi!r}",
                got,
                ref(ret, lo, hi),
                tolerance(np.float64),
                dtype=True,
            )
    hand_cases(g, fn)
    return g.result()


@grader(8, "mean_and_std")
def grade_mean_and_std(fn, ref) -> str:
    g = Grade(8, "mean_and_std")
    cases = [
        (f"{label}: {n} seeds' scores", rng.normal(50, 20, size=n))
        for label, rng in seeds(15)
        for n in [int(rng.integers(2, 10))]
    ]
    cases += [
        ("three equal scores (no spread)", np.array([40.0, 40.0, 40.0])),
        ("one seed only (std 0)", np.array([42.0])),
        ("two seeds", np.array([10.0, 20.0])),
        (
            "three equal large scores 1e8 + 0.1 (E[x²] - E[x]² cancels to noise)",
            np.full(3, 1e8 + 0.1),
        ),
        ("scores 1e9 + 1, 1e9 + 2, 1e9 + 3 (std sqrt(2/3))", 1e9 + np.array([1.0, 2.0, 3.0])),
        ("integer scores", np.array([40, 45, 47])),
    ]
    for case, values in cases:
        ok, got = g.call(case, fn, values.copy())
        if not ok:
            continue
        if (
            not isinstance(got, tuple)
            or len(got) != 2
            or not all(isinstance(v, float) for v in got)
        ):
            g.fail(case, f"must return a tuple (mean, std) of two floats, got {show(got)}")
            continue
        g.require(
            case,
            difference(
                np.asarray(got, np.float64),
                np.asarray(ref(values)),
                tolerance(np.float64),
                tolerance(np.float64) * magnitude(values),
            ),
        )
    hand_cases(g, fn)
    return g.result()


def _walk(rng, C: int, T: int, p_goal: float) -> tuple[np.ndarray, np.ndarray]:
    """A random episode as stitching_share sees one: the point is in at most one start cell per step (in runs of a
    few steps, as a walk through a maze), and in the goal region in runs of its own."""
    cell, t = np.full(T, -1), 0
    while t < T:
        run = int(rng.integers(1, 6))
        cell[t : t + run] = int(rng.integers(-1, C))  # -1: in none of the start cells
        t += run
    in_start = cell[None, :] == np.arange(C)[:, None]  # (C, T)
    in_goal = rng.random(T) < p_goal
    if (
        rng.random() < 0.5
    ):  # goal visits in runs: each visit lasts 1 to 3 steps (cut at the episode's end)
        in_goal = np.convolve(in_goal, np.ones(int(rng.integers(1, 4))))[:T] > 0
    assert in_start.shape == (C, T) and in_goal.shape == (T,)
    return in_start, in_goal.astype(bool)


@grader(8, "start_then_goal")
def grade_start_then_goal(fn, ref) -> str:
    """(C,) bool out; t' >= t (the same step counts); only the goal's last visit matters; the inputs unchanged."""
    g = Grade(8, "start_then_goal")
    cases = []
    for label, rng in seeds(20):
        C = int(rng.choice([1, 1, 2, 3, 5, 8]))
        T = int(rng.choice([1, 2, 3, 6, 20, 300]))
        p_goal = float(rng.choice([0.0, 0.02, 0.1, 0.4]))
        in_start, in_goal = _walk(rng, C, T, p_goal)
        cases.append(
            (f"{label}: C={C}, T={T}, goal at {int(in_goal.sum())} steps", in_start, in_goal)
        )

    def b(*rows):  # b([1, 0], [0, 1]): a (C, T) in_start; b(1, 0): a (T,) in_goal
        return np.array(rows, bool)

    cases += [
        ("C = 1, T = 1: in the start cell and the goal region", b([1]), b(1)),
        ("C = 1, T = 1: in the start cell, not in the goal region", b([1]), b(0)),
        ("T = 1: in the goal region, in no start cell", b([0], [0], [0]), b(1)),
        (
            "never reaches the goal",
            b([1, 0, 0, 1, 0, 0], [0, 1, 1, 0, 0, 0], [0, 0, 0, 0, 1, 1]),
            b(0, 0, 0, 0, 0, 0),
        ),
        ("never in a start cell", b([0, 0, 0, 0], [0, 0, 0, 0]), b(0, 1, 1, 0)),
        ("the goal only before the start", b([0, 0, 0, 1, 1]), b(1, 1, 0, 0, 0)),
        ("the goal at the same step as the start, and only then", b([0, 0, 1, 0]), b(0, 0, 1, 0)),
        (
            "the start cell only at the goal's last step",
            b([0, 0, 0, 1, 0], [1, 0, 0, 0, 0]),
            b(0, 1, 0, 1, 0),
        ),
        (
            "goal, start, goal again (only the last goal visit matters)",
            b([0, 0, 1, 0, 0]),
            b(1, 0, 0, 0, 1),
        ),
        (
            "several visits: start cells before, between and after the goal visits",
            b([1, 0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 1]),
            b(0, 1, 0, 0, 1, 1, 0, 0),
        ),
        (
            "revisits: the start cell, the goal, the start cell, the goal",
            b([1, 1, 0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 1, 0, 0]),
            b(0, 0, 1, 0, 0, 0, 1, 0),
        ),
        ("the goal at every step", b([0, 1, 0], [0, 0, 0]), b(1, 1, 1)),
    ]
    rng = fresh_rng(8)
    if (
        rng is not None
    ):  # a fresh long episode: C = 12 start cells, 800 steps (maze2d-large's horizon)
        cases.append(("a fresh 800-step episode, C = 12", *_walk(rng, 12, 800, 0.01)))
    for case, in_start, in_goal in cases:
        before = (in_start.copy(), in_goal.copy())
        ok, got = g.call(case, fn, in_start, in_goal)
        if not ok:
            continue
        if not isinstance(got, np.ndarray):
            g.fail(case, f"must return a numpy array of dtype bool, got {show(got)}")
            continue
        if g.check(case, got, ref(*before), dtype=True):
            g.require(
                f"{case} (inputs unchanged)",
                None
                if np.array_equal(in_start, before[0]) and np.array_equal(in_goal, before[1])
                else "an input was modified",
            )
    hand_cases(g, fn)
    return g.result()
