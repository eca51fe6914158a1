"""The graders: one function per exercise, comparing an implementation with the reference on many seeded inputs.

    grade_<name>(fn, ref) -> "40/40 cases"      or raises GradeError naming the first wrong case

`fn` is what is graded (the learner's function, or the reference itself when the suite checks that it is green);
`ref` is the reference from `minirl.course.reference` (the real minirl function, or its tested twin). Every grader
runs random cases from fixed seeds plus the edge cases a plausible bug gets wrong (episode boundaries, padding,
single-step episodes, ties, values on bin edges, ...). A NotImplementedError raised by `fn` passes through untouched:
an exercise not started yet is not a wrong answer. Any other exception inside a case counts as a wrong case.

`run_grader(lesson, name, fn)` is what `minirl lessons` calls; pytest uses the same functions (tests/assignments).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch

GRADERS: dict[tuple[int, str], Callable] = {}


def grader(lesson: int, name: str):
    def register(fn):
        GRADERS[(lesson, name)] = fn
        return fn

    return register


class GradeError(AssertionError):
    """A wrong answer: the message names the exercise, the score and the first wrong case."""


# ---------------------------------------------------------------------------------------------- comparing


def as_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def show(x, limit: int = 8) -> str:
    a = as_numpy(x)
    flat = np.round(a.astype(np.float64), 5).ravel() if a.dtype.kind in "fc" else a.ravel()
    text = np.array2string(flat[:limit], separator=", ")
    return f"{text[:-1]}, ...] (shape {a.shape})" if flat.size > limit else f"{text} (shape {a.shape})"


def difference(got, want, rtol: float = 1e-5, atol: float = 1e-6) -> str | None:
    """None when got matches want (shape, and values: exact for ints/bools, close for floats), else why not."""
    if got is None:
        return "returned None"
    g, w = as_numpy(got), as_numpy(want)
    if g.shape != w.shape:
        return f"shape {g.shape}, expected {w.shape}"
    if w.dtype.kind in "biu":
        if g.dtype.kind not in "biu":
            return f"dtype {g.dtype}, expected an integer/bool array like {w.dtype}"
        wrong = g != w
    else:
        g64, w64 = g.astype(np.float64), w.astype(np.float64)
        wrong = ~np.isclose(g64, w64, rtol=rtol, atol=atol, equal_nan=True)
    if not wrong.any():
        return None
    if w.ndim == 0:
        return f"expected {w.item():.6g}, got {g.item():.6g}" if w.dtype.kind == "f" else f"expected {w}, got {g}"
    at = tuple(int(i) for i in np.argwhere(wrong)[0])
    return (f"expected {show(w)}, got {show(g)}; first difference at index {at}: expected {w[at].item():.6g}, "
            f"got {g[at].item():.6g} ({int(wrong.sum())} of {wrong.size} entries differ)")


class Grade:
    """Counts cases for one exercise; `result()` returns the score line or raises GradeError."""

    def __init__(self, lesson: int, name: str):
        self.lesson, self.name = lesson, name
        self.passed, self.total, self.failures = 0, 0, []

    def call(self, case: str, fn, *args, **kwargs):
        """fn(*args) -> (ok, output). An exception is a wrong case, except NotImplementedError, which propagates:
        the exercise is not started."""
        try:
            return True, fn(*args, **kwargs)
        except NotImplementedError:
            raise
        except Exception as e:  # noqa: BLE001
            self.fail(case, f"raised {type(e).__name__}: {e}")
            return False, None

    def check(self, case: str, got, want, rtol: float = 1e-5, atol: float = 1e-6) -> bool:
        return self.require(case, difference(got, want, rtol, atol))

    def require(self, case: str, problem: str | None) -> bool:
        """problem None: the case passes; a string: it fails for that reason."""
        self.total += 1
        if problem is None:
            self.passed += 1
            return True
        self.failures.append(f"{case}: {problem}")
        return False

    def fail(self, case: str, problem: str) -> None:
        self.require(case, problem)

    def result(self) -> str:
        head = f"Lesson {self.lesson:02d} · {self.name}: {self.passed}/{self.total} cases correct"
        if self.failures:
            more = f" (and {len(self.failures) - 1} more wrong)" if len(self.failures) > 1 else ""
            raise GradeError(f"{head}, score {self.passed / self.total:.2f}.\n  first wrong case: "
                             f"{self.failures[0]}{more}")
        return f"{self.passed}/{self.total} cases"


def run_grader(lesson: int, name: str, fn) -> dict:
    """{"status": 'passing'|'failing'|'not started', "detail": one line} for `minirl lessons`."""
    from minirl.course import reference

    try:
        score = GRADERS[(lesson, name)](fn, reference(lesson, name))
    except NotImplementedError as e:
        return {"status": "not started", "detail": str(e) or "NotImplementedError"}
    except GradeError as e:
        return {"status": "failing", "detail": " ".join(str(e).split())}
    except Exception as e:  # noqa: BLE001  (a crash outside any case, e.g. a wrong signature)
        return {"status": "failing", "detail": f"raised {type(e).__name__}: {e}".splitlines()[0]}
    return {"status": "passing", "detail": score}


def seeds(n: int):
    for seed in range(n):
        yield seed, np.random.default_rng(seed)


def loss_and_grads(fn, *inputs: torch.Tensor, **kwargs):
    """Calls a loss on fresh copies of the inputs (float ones as leaves that need gradients); returns (value,
    [d value / d input for every float input]) or raises."""
    leaves = [x.detach().clone().requires_grad_(torch.is_floating_point(x)) for x in inputs]
    out = fn(*leaves, **kwargs)
    if not isinstance(out, torch.Tensor) or out.dim() != 0:
        raise TypeError(f"must return a scalar torch tensor, got {type(out).__name__} "
                        f"{tuple(out.shape) if isinstance(out, torch.Tensor) else ''}")
    if not out.requires_grad:
        raise TypeError("the returned loss carries no gradient (was it detached or built with numpy?)")
    floats = [x for x in leaves if x.requires_grad]
    grads = torch.autograd.grad(out, floats, allow_unused=True)
    return out.detach(), [torch.zeros_like(x) if g is None else g for x, g in zip(floats, grads)]


def check_loss(g: Grade, case: str, fn, ref, *inputs, rtol=1e-5, atol=1e-6, **kwargs) -> None:
    """The loss's value and its gradient with respect to every input must match the reference's."""
    ok, got = g.call(case, loss_and_grads, fn, *inputs, **kwargs)
    if not ok:
        return
    want = loss_and_grads(ref, *inputs, **kwargs)
    if g.check(f"{case} (value)", got[0], want[0], rtol, atol):
        for i, (gg, wg) in enumerate(zip(got[1], want[1])):
            g.check(f"{case} (gradient w.r.t. float input {i})", gg, wg, rtol, atol)


# ---------------------------------------------------------------------------------------------- lesson 01


def random_mdp(rng, S: int, A: int, p_done: float = 0.2):
    return (rng.integers(S, size=(S, A)), rng.normal(size=(S, A)).round(2), rng.random((S, A)) < p_done)


@grader(1, "bellman_backup")
def grade_bellman_backup(fn, ref) -> str:
    g = Grade(1, "bellman_backup")
    cases = []
    for seed, rng in seeds(30):
        S, A = int(rng.integers(1, 12)), int(rng.integers(1, 5))
        gamma = float(rng.choice([0.0, 0.5, 0.9, 0.99, 1.0]))
        cases.append((f"seed {seed}: S={S}, A={A}, gamma={gamma}", rng.normal(size=(S, A)), *random_mdp(rng, S, A),
                      gamma))
    rng = np.random.default_rng(100)
    ns, r, _ = random_mdp(rng, 5, 3)
    cases.append(("every step ends the episode (no bootstrapping at all)", rng.normal(size=(5, 3)), ns, r,
                   np.ones((5, 3), bool), 0.9))
    cases.append(("no step ends the episode", rng.normal(size=(5, 3)), ns, r, np.zeros((5, 3), bool), 0.9))
    cases.append(("one state looping to itself", np.array([[1.0, 3.0]]), np.zeros((1, 2), int),
                  np.array([[0.5, -1.0]]), np.zeros((1, 2), bool), 0.5))
    from minirl.baselines.tabular import build_mdp

    mdp = build_mdp()
    cases.append(("the Minigrid room of lesson 01, Q = 0", np.zeros(mdp.next_state.shape), mdp.next_state,
                  mdp.reward, mdp.done, 0.9))
    cases.append(("the Minigrid room of lesson 01, random Q", rng.random(mdp.next_state.shape), mdp.next_state,
                  mdp.reward, mdp.done, 0.9))
    for case, Q, ns, r, done, gamma in cases:
        Q_before = Q.copy()
        ok, got = g.call(case, fn, Q, ns, r, done, gamma)
        if ok and g.check(case, got, ref(Q_before, ns, r, done, gamma), atol=1e-9):
            g.require(f"{case} (input Q unchanged)", None if np.array_equal(Q, Q_before) else
                      "the input Q was modified: return a new array")
    return g.result()


@grader(1, "q_learning_step")
def grade_q_learning_step(fn, ref) -> str:
    g = Grade(1, "q_learning_step")
    cases = []
    for seed, rng in seeds(30):
        S, A = int(rng.integers(1, 8)), int(rng.integers(1, 4))
        s, s_next = int(rng.integers(S)), int(rng.integers(S))
        cases.append((f"seed {seed}: S={S}, A={A}", rng.normal(size=(S, A)), s, int(rng.integers(A)),
                      float(rng.normal()), s_next, bool(rng.random() < 0.3), float(rng.choice([0.5, 0.9, 0.99])),
                      float(rng.choice([0.1, 0.5, 1.0]))))
    rng = np.random.default_rng(200)
    Q = rng.normal(size=(4, 3))
    cases.append(("terminal transition (done=True): no bootstrap", Q, 1, 2, 1.0, 3, True, 0.9, 0.5))
    cases.append(("s' == s (a self-loop)", Q, 2, 0, 0.0, 2, False, 0.9, 0.5))
    cases.append(("alpha = 1 (Q(s, a) becomes the target)", Q, 0, 1, -1.0, 3, False, 0.9, 1.0))
    cases.append(("alpha = 0 (nothing moves, the TD error is still returned)", Q, 0, 1, 2.0, 3, False, 0.9, 0.0))
    for case, Q, s, a, r, s_next, done, gamma, alpha in cases:
        got_Q, want_Q = Q.copy(), Q.copy()
        ok, got = g.call(case, fn, got_Q, s, a, r, s_next, done, gamma, alpha)
        want = ref(want_Q, s, a, r, s_next, done, gamma, alpha)
        if ok and g.require(f"{case} (returned TD error)", difference(None if got is None else float(got), want)):
            g.check(f"{case} (Q after the in-place update)", got_Q, want_Q, atol=1e-9)
    return g.result()


# ---------------------------------------------------------------------------------------------- lesson 02


@grader(2, "cql_penalty")
def grade_cql_penalty(fn, ref) -> str:
    g = Grade(2, "cql_penalty")
    for seed, rng in seeds(25):
        B, M = int(rng.integers(1, 9)), int(rng.integers(1, 12))
        q_sampled = torch.tensor(rng.normal(0, 3, size=(B, M)), dtype=torch.float32)
        q_data = torch.tensor(rng.normal(0, 3, size=B), dtype=torch.float32)
        check_loss(g, f"seed {seed}: B={B}, M={M}", fn, ref, q_sampled, q_data, rtol=1e-4, atol=1e-5)
    big = torch.tensor([[1000.0, 999.0, 1001.0], [-1000.0, -1002.0, -999.0]])
    check_loss(g, "Q-values near ±1000 (log Σ exp must not overflow)", fn, ref, big, torch.tensor([1000.0, -1000.0]),
               rtol=1e-4, atol=1e-3)
    check_loss(g, "one sampled action (M = 1)", fn, ref, torch.tensor([[2.0], [-1.0]]), torch.tensor([0.5, 0.5]))
    check_loss(g, "all Q equal (the penalty is log M)", fn, ref, torch.zeros(3, 7), torch.zeros(3))
    return g.result()


@grader(2, "expectile_loss")
def grade_expectile_loss(fn, ref) -> str:
    g = Grade(2, "expectile_loss")
    for seed, rng in seeds(25):
        B = int(rng.integers(1, 40))
        tau = float(rng.choice([0.5, 0.7, 0.9, 0.1, 0.99]))
        diff = torch.tensor(rng.normal(0, 2, size=B), dtype=torch.float32)
        check_loss(g, f"seed {seed}: B={B}, tau={tau}", fn, ref, diff, tau=tau, rtol=1e-5, atol=1e-6)
    check_loss(g, "every diff positive, tau=0.9", fn, ref, torch.tensor([0.5, 1.0, 2.0]), tau=0.9)
    check_loss(g, "every diff negative, tau=0.9", fn, ref, torch.tensor([-0.5, -1.0, -2.0]), tau=0.9)
    check_loss(g, "diff exactly 0 among others, tau=0.7", fn, ref, torch.tensor([0.0, -1.0, 1.0]), tau=0.7)
    check_loss(g, "one element, tau=0.3", fn, ref, torch.tensor([-2.0]), tau=0.3)
    return g.result()


# ---------------------------------------------------------------------------------------------- lesson 03


@grader(3, "returns_to_go")
def grade_returns_to_go(fn, ref) -> str:
    g = Grade(3, "returns_to_go")
    cases = []
    for seed, rng in seeds(25):
        T = int(rng.integers(1, 60))
        gamma = float(rng.choice([1.0, 0.99, 0.9, 0.5]))
        cases.append((f"seed {seed}: T={T}, gamma={gamma}", rng.normal(size=T).astype(np.float32), gamma))
    cases += [("a one-step episode", np.array([3.0], np.float32), 0.99),
              ("a sparse reward at the very end (BabyAI)", np.r_[np.zeros(9), 0.8].astype(np.float32), 0.9),
              ("a reward only at the first step", np.r_[1.0, np.zeros(5)].astype(np.float32), 1.0),
              ("gamma = 0 (R̂_t = r_t)", np.arange(5, dtype=np.float32), 0.0)]
    for case, rewards, gamma in cases:
        before = rewards.copy()
        ok, got = g.call(case, fn, rewards, gamma)
        if ok and g.check(case, got, ref(before, gamma), rtol=1e-4, atol=1e-4):
            g.require(f"{case} (rewards unchanged)", None if np.array_equal(rewards, before) else
                      "the input rewards were modified")
    return g.result()


@grader(3, "return_conditioned_loss")
def grade_return_conditioned_loss(fn, ref) -> str:
    g = Grade(3, "return_conditioned_loss")
    for seed, rng in seeds(24):
        B, K, A = int(rng.integers(1, 5)), int(rng.integers(1, 8)), int(rng.integers(1, 7))
        discrete = seed % 2 == 1
        real = rng.integers(1, K + 1, size=B)  # real steps per window, at the end (left padding)
        mask = torch.tensor(np.arange(K)[None] >= K - real[:, None])
        preds = torch.tensor(rng.normal(size=(B, K, A)), dtype=torch.float32)
        if discrete:
            actions = torch.tensor(rng.integers(A, size=(B, K)))
        else:
            actions = torch.tensor(rng.uniform(-1, 1, size=(B, K, A)), dtype=torch.float32)
        kind = "discrete" if discrete else "continuous"
        check_loss(g, f"seed {seed}: {kind}, B={B}, K={K}, A={A}, real steps {real.tolist()}", fn, ref, preds,
                   actions, mask, rtol=1e-4, atol=1e-6)
    preds, actions = torch.ones(1, 4, 2), torch.zeros(1, 4, 2)
    actions[0, 0] = 100.0  # the padded step holds garbage: it must not count
    mask = torch.tensor([[False, True, True, True]])
    check_loss(g, "left padding holding garbage actions (continuous)", fn, ref, preds, actions, mask)
    check_loss(g, "a window with one real step (discrete)", fn, ref, torch.randn(2, 3, 7, generator=torch.Generator()
               .manual_seed(0)), torch.tensor([[0, 0, 6], [1, 2, 3]]), torch.tensor([[False, False, True]] * 2))
    return g.result()


# ---------------------------------------------------------------------------------------------- lesson 04


@grader(4, "interleave_tokens")
def grade_interleave_tokens(fn, ref) -> str:
    g = Grade(4, "interleave_tokens")
    for seed, rng in seeds(20):
        B, K, D = int(rng.integers(1, 4)), int(rng.integers(1, 7)), int(rng.integers(1, 6))
        R, s, a = (torch.tensor(rng.normal(size=(B, K, D)), dtype=torch.float32) for _ in range(3))
        ok, got = g.call(f"seed {seed}: B={B}, K={K}, D={D}", fn, R, s, a)
        if ok:
            g.check(f"seed {seed}: B={B}, K={K}, D={D}", got, ref(R, s, a), atol=0)
    K = 3  # tokens that say who they are: R̂ = 100 + t, s = 200 + t, a = 300 + t
    labelled = [torch.arange(K, dtype=torch.float32).view(1, K, 1) + base for base in (100.0, 200.0, 300.0)]
    ok, got = g.call("labelled tokens", fn, *labelled)
    if ok:
        g.check("labelled tokens R̂_t = 100+t, s_t = 200+t, a_t = 300+t (expect 100, 200, 300, 101, ...)",
                got, ref(*labelled), atol=0)
    return g.result()


@grader(4, "causal_mask")
def grade_causal_mask(fn, ref) -> str:
    g = Grade(4, "causal_mask")
    cases = [(T, 0) for T in (1, 2, 3, 5, 9, 16)] + [(T, P) for T, P in ((1, 1), (1, 7), (3, 2), (4, 5), (6, 6))]
    for T, P in cases:
        case = f"T={T} new tokens after P={P} cached ones"
        ok, got = g.call(case, fn, T, P)
        if not ok:
            continue
        want = ref(T, P)
        if g.check(case, got, want):
            got = as_numpy(got).astype(bool)
            g.require(f"{case}: no query sees a later token", None if not (got & ~as_numpy(want)).any() else
                      "the mask leaks the future")
    return g.result()


@grader(4, "update_return_to_go")
def grade_update_return_to_go(fn, ref) -> str:
    g = Grade(4, "update_return_to_go")
    cases = []
    for seed, rng in seeds(20):
        N = int(rng.integers(1, 9))
        scale = float(rng.choice([1.0, 1000.0, 0.5]))
        cases.append((f"seed {seed}: N={N}, rtg_scale={scale}", rng.normal(3, 2, size=N).astype(np.float32),
                      rng.normal(size=N).astype(np.float32), rng.random(N) < 0.3, scale))
    cases += [("every env already finished", np.array([1.0, 2.0], np.float32), np.array([5.0, 5.0], np.float32),
               np.array([True, True]), 1.0),
              ("a negative reward raises R̂", np.array([1.0], np.float32), np.array([-2.0], np.float32),
               np.array([False]), 1.0),
              ("HalfCheetah scale: R̂ 6 (= 6000 / 1000), reward 5", np.array([6.0], np.float32),
               np.array([5.0], np.float32), np.array([False]), 1000.0)]
    for case, rtg, rewards, finished, scale in cases:
        before = rtg.copy()
        ok, got = g.call(case, fn, rtg, rewards, finished, scale)
        if ok and g.check(case, got, ref(before, rewards, finished, scale), rtol=1e-5, atol=1e-6):
            g.require(f"{case} (input unchanged)", None if np.array_equal(rtg, before) else "the input was modified")
    return g.result()


# ---------------------------------------------------------------------------------------------- lesson 05


def _data(rng, kind: str, N: int, D: int) -> np.ndarray:
    if kind == "normal":
        return rng.normal(size=(N, D))
    if kind == "exponential":
        return rng.exponential(size=(N, D))
    return rng.integers(0, 4, size=(N, D)).astype(np.float64)  # "ties": many repeated values, empty bins


@grader(5, "fit_quantile_bins")
def grade_fit_quantile_bins(fn, ref) -> str:
    g = Grade(5, "fit_quantile_bins")
    for seed, rng in seeds(18):
        kind = ["normal", "exponential", "ties"][seed % 3]
        N, D, n_bins = int(rng.integers(20, 300)), int(rng.integers(1, 4)), int(rng.choice([1, 2, 5, 10, 32]))
        x = _data(rng, kind, N, D)
        case = f"seed {seed}: {kind} data, N={N}, D={D}, n_bins={n_bins}"
        ok, got = g.call(case, fn, x.copy(), n_bins)
        if not ok:
            continue
        if not isinstance(got, tuple) or len(got) != 2:
            g.fail(case, "must return a tuple (edges, centers)")
            continue
        edges, centers = ref(x, n_bins)
        if g.check(f"{case} (edges)", got[0], edges, rtol=1e-6, atol=1e-9):
            g.check(f"{case} (centers)", got[1], centers, rtol=1e-5, atol=1e-6)
    return g.result()


@grader(5, "discretize")
def grade_discretize(fn, ref) -> str:
    g = Grade(5, "discretize")
    from minirl.course import fit_quantile_bins

    for seed, rng in seeds(18):
        kind = ["normal", "exponential", "ties"][seed % 3]
        D, n_bins = int(rng.integers(1, 4)), int(rng.choice([1, 3, 8, 20]))
        edges, _ = fit_quantile_bins(_data(rng, kind, 200, D), n_bins)
        x = np.concatenate([_data(rng, kind, 30, D) * 1.5,  # some outside the fitted range
                            np.take_along_axis(edges.T, rng.integers(0, n_bins + 1, size=(10, D)), 0)])  # ON edges
        case = f"seed {seed}: {kind} data, D={D}, n_bins={n_bins}, incl. values on edges and out of range"
        ok, got = g.call(case, fn, x.copy(), edges.copy())
        if ok:
            g.check(case, got, ref(x, edges))
    edges = np.array([[0.0, 1.0, 2.0, 3.0]])
    x = np.array([[-5.0], [0.0], [1.0], [1.5], [2.0], [3.0], [9.0]])
    ok, got = g.call("x on every edge of bins [0,1), [1,2), [2,3]", fn, x, edges)
    if ok:
        g.check("x = -5, 0, 1, 1.5, 2, 3, 9 with edges 0, 1, 2, 3 (expect 0, 0, 1, 1, 2, 2, 2)", got, ref(x, edges))
    x3 = np.zeros((2, 5, 1)) + 1.5
    ok, got = g.call("leading batch dimensions (2, 5, D)", fn, x3, edges)
    if ok:
        g.check("leading batch dimensions (2, 5, D)", got, ref(x3, edges))
    return g.result()


@grader(5, "undiscretize")
def grade_undiscretize(fn, ref) -> str:
    g = Grade(5, "undiscretize")
    for seed, rng in seeds(15):
        D, n_bins = int(rng.integers(1, 5)), int(rng.integers(1, 12))
        centers = np.sort(rng.normal(size=(D, n_bins)), axis=1)
        idx = rng.integers(0, n_bins, size=(int(rng.integers(1, 9)), D))
        case = f"seed {seed}: D={D}, n_bins={n_bins}"
        ok, got = g.call(case, fn, idx.copy(), centers.copy())
        if ok:
            g.check(case, got, ref(idx, centers), rtol=1e-6)
    centers = np.array([[10.0, 20.0, 30.0], [-1.0, -2.0, -3.0]])  # D = 2, 3 bins
    idx = np.array([[0, 2], [2, 0], [1, 1]])
    ok, got = g.call("two dimensions with different centers", fn, idx, centers)
    if ok:
        g.check("centers [[10, 20, 30], [-1, -2, -3]], ids [[0, 2], [2, 0], [1, 1]] (expect 10, -3, 30, -1, 20, -2)",
                got, ref(idx, centers))
    return g.result()


@grader(5, "beam_step")
def grade_beam_step(fn, ref) -> str:
    """Scores must equal the reference's (best first); kept rows must belong to their env and carry those scores;
    among tied candidates any choice is right (torch.topk itself does not promise which)."""
    g = Grade(5, "beam_step")
    cases = []
    for seed, rng in seeds(20):
        n, C, H = int(rng.integers(1, 4)), int(rng.integers(1, 9)), int(rng.integers(1, 6))
        K = int(rng.integers(1, C + 1))
        cases.append((f"seed {seed}: n_envs={n}, {C} candidates each, keep {K}, H={H}",
                      torch.tensor(rng.normal(size=(n * C, H + 1)), dtype=torch.float64), n, K,
                      float(rng.choice([1.0, 0.99, 0.5]))))
    ties = torch.tensor([[1.0, 0.0], [2.0, 0.0], [2.0, 0.0], [1.0, 0.0], [0.5, 0.0], [2.0, 0.0]])
    cases.append(("ties: one env, candidates scoring 1, 2, 2, 1, 0.5, 2, keep 2", ties, 1, 2, 1.0))
    cases.append(("ties: two envs of three, keep 1 each", ties, 2, 1, 1.0))
    cases.append(("keep every candidate (beam_width = candidates)", ties, 2, 3, 0.9))
    for case, rewards, n, K, discount in cases:
        ok, got = g.call(case, fn, rewards.clone(), n, K, discount)
        if not ok:
            continue
        if not isinstance(got, tuple) or len(got) != 2:
            g.fail(case, "must return a tuple (keep, scores)")
            continue
        keep, scores = (torch.as_tensor(x) for x in got)
        want_keep, want_scores = ref(rewards, n, K, discount)
        if not g.check(f"{case} (scores, best first)", scores, want_scores, rtol=1e-9, atol=1e-9):
            continue
        C = len(rewards) // n
        candidate = (rewards * discount ** torch.arange(rewards.shape[1], dtype=rewards.dtype)).sum(-1)
        problem = None
        if keep.shape != want_keep.shape or torch.is_floating_point(keep):
            problem = f"keep must be {tuple(want_keep.shape)} integer row indices, got {tuple(keep.shape)} {keep.dtype}"
        elif not ((keep >= 0) & (keep < len(rewards))).all():
            problem = f"row index out of range in {show(keep)}"
        elif not torch.equal(keep.view(n, K) // C, torch.arange(n)[:, None].expand(n, K)):
            problem = f"a kept row belongs to another env: {show(keep)} (env e owns rows e*{C} .. e*{C}+{C - 1})"
        elif len(set(keep.tolist())) != len(keep):
            problem = f"a candidate was kept twice: {show(keep)}"
        elif not torch.allclose(candidate[keep].view(n, K), scores.view(n, K).to(candidate.dtype)):
            problem = f"the kept rows {show(keep)} do not have the returned scores"
        g.require(f"{case} (kept rows)", problem)
    return g.result()


# ---------------------------------------------------------------------------------------------- lesson 06


def _conditionals(rng, B: int, L: int, V: int, sharp: float = 2.0) -> torch.Tensor:
    return torch.tensor(rng.normal(0, sharp, size=(B, L, V))).log_softmax(-1)


@grader(6, "plan_energy")
def grade_plan_energy(fn, ref) -> str:
    g = Grade(6, "plan_energy")
    cases = []
    for seed, rng in seeds(20):
        B, L, V = int(rng.integers(1, 5)), int(rng.integers(1, 9)), int(rng.integers(2, 8))
        cases.append((f"seed {seed}: B={B}, L={L}, V={V}", _conditionals(rng, B, L, V),
                      torch.tensor(rng.integers(V, size=(B, L)))))
    certain = torch.full((1, 3, 4), -30.0)
    certain[0, :, 2] = 0.0
    cases.append(("the model is sure of every token of the plan (E = 0)", certain.log_softmax(-1),
                  torch.tensor([[2, 2, 2]])))
    cases.append(("a one-token plan", _conditionals(np.random.default_rng(7), 2, 1, 7), torch.tensor([[3], [0]])))
    for case, log_p, plan in cases:
        ok, got = g.call(case, fn, log_p.clone(), plan.clone())
        if ok:
            g.check(case, got, ref(log_p, plan), rtol=1e-6, atol=1e-6)
    return g.result()


@grader(6, "refine_step")
def grade_refine_step(fn, ref) -> str:
    g = Grade(6, "refine_step")
    cases = []
    for seed, rng in seeds(20):
        B, L, V = int(rng.integers(1, 5)), int(rng.integers(1, 9)), int(rng.integers(2, 8))
        cases.append((f"seed {seed}: B={B}, L={L}, V={V}", _conditionals(rng, B, L, V),
                      torch.tensor(rng.integers(V, size=(B, L)))))
    log_p = torch.log(torch.tensor([[[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1]]], dtype=torch.float64))
    cases.append(("a plan already at its minimum (every token is its own argmax): unchanged", log_p,
                  torch.tensor([[0, 1, 0]])))
    cases.append(("the worst token is the last one", log_p, torch.tensor([[0, 1, 2]])))
    tied = torch.log(torch.full((1, 3, 2), 0.5, dtype=torch.float64))
    cases.append(("every token ties (the first highest-energy token, the first likeliest action)", tied,
                  torch.tensor([[1, 1, 1]])))
    for case, log_p, plan in cases:
        before = plan.clone()
        ok, got = g.call(case, fn, log_p.clone(), plan)
        if not ok:
            continue
        if not isinstance(got, tuple) or len(got) != 2:
            g.fail(case, "must return a tuple (new_plan, energy)")
            continue
        want = ref(log_p, before)
        if g.check(f"{case} (new plan)", got[0], want[0]) and g.check(f"{case} (energy before the step)", got[1],
                                                                      want[1], rtol=1e-6, atol=1e-6):
            g.require(f"{case} (input plan unchanged)", None if torch.equal(plan, before) else
                      "the input plan was modified in place: clone it first")
    return g.result()


# ---------------------------------------------------------------------------------------------- lesson 07


def _attention_maps(rng, shape, causal: bool, sharp: float):
    """Random attention (..., T, T) whose rows sum to 1 over the allowed keys, and the allowed mask (T, T)."""
    T = shape[-1]
    allowed = np.tril(np.ones((T, T), bool)) if causal else np.ones((T, T), bool)
    scores = np.where(allowed, rng.normal(0, sharp, size=shape), -np.inf)
    p = np.exp(scores - scores.max(-1, keepdims=True))
    return p / p.sum(-1, keepdims=True), allowed


def _attention_cases(n: int):
    cases = []
    for seed, rng in seeds(n):
        T = int(rng.integers(1, 9))
        shape = (int(rng.integers(1, 3)), int(rng.integers(1, 4)), T, T)
        causal, sharp = bool(seed % 2), float(rng.choice([0.1, 1.0, 5.0]))
        attn, allowed = _attention_maps(rng, shape, causal, sharp)
        kind = "causal" if causal else "bidirectional"
        cases.append((f"seed {seed}: {kind}, shape {shape}, sharpness {sharp}", attn, allowed if causal else None))
    T = 4
    cases.append(("one-hot rows (entropy 0, one key holds everything)", np.eye(T)[None], None))
    cases.append(("uniform rows over all keys", np.full((T, T), 1 / T), None))
    uniform_causal = np.tril(np.ones((T, T))) / np.arange(1, T + 1)[:, None]
    cases.append(("uniform over the visible keys of a causal map", uniform_causal, np.tril(np.ones((T, T), bool))))
    return cases


@grader(7, "row_entropy")
def grade_row_entropy(fn, ref) -> str:
    g = Grade(7, "row_entropy")
    for case, attn, allowed in _attention_cases(16):
        ok, got = g.call(case, fn, attn.copy(), allowed)
        if ok:
            g.check(case, got, ref(attn, allowed), rtol=1e-6, atol=1e-9)
    return g.result()


@grader(7, "keys_for_mass")
def grade_keys_for_mass(fn, ref) -> str:
    g = Grade(7, "keys_for_mass")
    for i, (case, attn, allowed) in enumerate(_attention_cases(16)):
        mass = [0.9, 0.5, 0.99][i % 3]
        ok, got = g.call(case, fn, attn.copy(), mass, allowed)
        if ok:
            g.check(f"{case}, mass {mass}", got, ref(attn, mass, allowed), rtol=1e-6, atol=1e-9)
    exact = np.array([[0.5, 0.4, 0.1, 0.0]])
    ok, got = g.call("mass reached exactly by two keys", fn, exact, 0.9, None)
    if ok:
        g.check("weights 0.5, 0.4, 0.1, 0 and mass 0.9 (two of four keys: 0.5)", got, ref(exact, 0.9, None))
    return g.result()


@grader(7, "gini")
def grade_gini(fn, ref) -> str:
    g = Grade(7, "gini")
    for case, attn, allowed in _attention_cases(12):
        ok, got = g.call(case, fn, attn.copy(), allowed)
        if ok:
            g.check(case, got, ref(attn, allowed), rtol=1e-6, atol=1e-9)
    return g.result()


# ---------------------------------------------------------------------------------------------- lesson 08


@grader(8, "normalized_score")
def grade_normalized_score(fn, ref) -> str:
    g = Grade(8, "normalized_score")
    from minirl.envs import ENVS

    cheetah = ENVS["halfcheetah"]
    cases = [("HalfCheetah's random return (score 0)", cheetah.ref_min_score),
             ("HalfCheetah's expert return (score 100)", cheetah.ref_max_score),
             ("a return of 0", 0.0), ("a medium-level return 4800", 4800.0),
             ("an array of returns", np.array([-500.0, 1000.0, 13000.0]))]
    for case, ret in cases:
        ok, got = g.call(case, fn, copy.deepcopy(ret), cheetah.ref_min_score, cheetah.ref_max_score)
        if ok:
            g.check(case, got, ref(ret, cheetah.ref_min_score, cheetah.ref_max_score), rtol=1e-9, atol=1e-9)
    for seed, rng in seeds(10):
        lo, hi = float(rng.normal(-100, 50)), float(rng.normal(1000, 300))
        ret = rng.normal(500, 500, size=int(rng.integers(1, 6)))
        ok, got = g.call(f"seed {seed}", fn, ret.copy(), lo, hi)
        if ok:
            g.check(f"seed {seed}: random {lo:.1f}, expert {hi:.1f}", got, ref(ret, lo, hi), rtol=1e-9, atol=1e-9)
    return g.result()


@grader(8, "mean_and_std")
def grade_mean_and_std(fn, ref) -> str:
    g = Grade(8, "mean_and_std")
    cases = [(f"seed {seed}: {n} seeds' scores", rng.normal(50, 20, size=n)) for seed, rng in seeds(15)
             for n in [int(rng.integers(2, 10))]]
    cases += [("three equal scores (no spread)", np.array([40.0, 40.0, 40.0])),
              ("one seed only (std 0)", np.array([42.0])),
              ("two seeds", np.array([10.0, 20.0]))]
    for case, values in cases:
        ok, got = g.call(case, fn, values.copy())
        if ok:
            g.require(case, "must return a tuple (mean, std)" if not isinstance(got, tuple) or len(got) != 2 else
                      difference(np.asarray(got, np.float64), np.asarray(ref(values)), rtol=1e-9, atol=1e-9))
    return g.result()
