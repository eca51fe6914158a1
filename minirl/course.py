"""The course: eight lessons in `lessons/NN-name/` (README.md + exercise.py), graded by `tests/assignments/`.

Four things live here, and nothing else:
- `LESSONS`: each lesson's folder, title and the functions its exercise.py asks for;
- `REFERENCES`: for every exercise, the real minirl function that solves it ("module:qualname"). Where the real code
  does the step inline inside a bigger function (DT's token interleaving inside `dt.Model.forward`, the causal mask
  inside `Transformer.forward`, ...), the reference is a small *twin* defined below that mirrors those lines;
  tests/test_lessons.py checks every twin against the real code on random inputs, so a twin cannot drift;
- `print_status`: what `minirl lessons` prints, by grading the learner's exercise.py files (in a sandbox process)
  with the graders of tests/assignments/graders.py (the same ones `pytest tests/assignments --student` runs);
- `refresh_quotes`: lessons quote real code by reference (`<!-- quote: minirl/dt.py::Agent.act -->` above a
  ```python notest block); after the code changes, `python -m minirl.course` re-pastes every quoted block (and
  tests/test_lessons.py fails until someone does).

The learner's lessons folder is `lessons/` next to this package's source tree, or $MINIRL_LESSONS_DIR (a teacher
grading a submitted copy).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
import torch.nn.functional as F

from minirl.tokenizer import Discretizer

ROOT = Path(__file__).resolve().parents[1]  # the repository (an editable install)


@dataclass(frozen=True)
class Lesson:
    number: int
    folder: str  # lessons/<folder>/
    title: str
    exercises: tuple[str, ...]  # functions exercise.py asks for, graded in this order

    @property
    # the pytest marker of its graders: pytest tests/assignments --student -m lesson04
    def marker(self) -> str:
        return f"lesson{self.number:02d}"


LESSONS = [
    Lesson(
        1,
        "01-bellman-backups",
        "Bellman backups: value iteration and Q-learning",
        ("bellman_backup", "q_learning_step"),
    ),
    Lesson(
        2,
        "02-offline-rl",
        "Offline RL: distribution shift, SAC's critic, CQL and IQL",
        ("cql_penalty", "expectile_loss"),
    ),
    Lesson(
        3,
        "03-return-conditioning",
        "Behaviour cloning and return conditioning",
        ("returns_to_go", "return_conditioned_loss"),
    ),
    Lesson(
        4,
        "04-decision-transformer",
        "Decision Transformer: tokens, causal attention, acting",
        ("interleave_tokens", "causal_mask", "update_return_to_go"),
    ),
    Lesson(
        5,
        "05-trajectory-transformer",
        "Trajectory Transformer: discretize, model, beam search",
        ("fit_quantile_bins", "discretize", "undiscretize", "beam_step"),
    ),
    Lesson(
        6,
        "06-leap",
        "LEAP: energy-based planning with a masked model",
        ("plan_energy", "refine_step"),
    ),
    Lesson(
        7,
        "07-reading-attention",
        "Reading attention: what the analyses show and do not",
        ("row_entropy", "keys_for_mass", "gini"),
    ),
    Lesson(
        8,
        "08-choosing-a-method",
        "Choosing a method: the measured comparison",
        ("normalized_score", "mean_and_std", "start_then_goal"),
    ),
]

REFERENCES = {
    (1, "bellman_backup"): "minirl.baselines.tabular:bellman_backup",
    (1, "q_learning_step"): "minirl.baselines.tabular:q_learning_step",
    (2, "cql_penalty"): "minirl.baselines.cql:cql_penalty",
    (2, "expectile_loss"): "minirl.course:expectile_loss",  # twin of baselines.iql.expectile_loss
    (3, "returns_to_go"): "minirl.tokenizer:returns_to_go",
    # twin of dt.Model.loss
    (3, "return_conditioned_loss"): "minirl.course:return_conditioned_loss",
    # twin of dt.Model.forward's token layout
    (4, "interleave_tokens"): "minirl.course:interleave_tokens",
    # twin of transformer.Transformer.forward's mask
    (4, "causal_mask"): "minirl.course:causal_mask",
    (4, "update_return_to_go"): "minirl.course:update_return_to_go",  # twin of dt.Agent.observe
    (5, "fit_quantile_bins"): "minirl.course:fit_quantile_bins",  # calls tokenizer.Discretizer.fit
    (5, "discretize"): "minirl.course:discretize",  # calls tokenizer.Discretizer.encode
    (5, "undiscretize"): "minirl.course:undiscretize",  # calls tokenizer.Discretizer.decode
    (5, "beam_step"): "minirl.course:beam_step",  # twin of tt.expand_beams's selection
    (6, "plan_energy"): "minirl.course:plan_energy",  # twin of leap.Model.energy
    (6, "refine_step"): "minirl.course:refine_step",  # twin of leap.Model.refine_step
    (7, "row_entropy"): "minirl.analysis.metrics:row_entropy",
    (7, "keys_for_mass"): "minirl.analysis.metrics:keys_for_mass",
    (7, "gini"): "minirl.analysis.metrics:gini",
    # calls envs.normalized_score's formula
    (8, "normalized_score"): "minirl.course:normalized_score",
    (8, "mean_and_std"): "minirl.course:mean_and_std",  # twin of compare.summarize's mean ± std
    # the core of pointmaze.stitching_share (numpy only; importing pointmaze costs ~0.2 s, gymnasium)
    (8, "start_then_goal"): "minirl.pointmaze:start_then_goal",
}


def reference(lesson: int, name: str):
    """The real (or twin) function that solves exercise `name` of `lesson`."""
    module, qualname = REFERENCES[(lesson, name)].split(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


# ---------------------------------------------------------------------------------------------- twins
# Each twin mirrors lines of real minirl code that do not stand alone as a function; the comment names them.


def expectile_loss(diff: torch.Tensor, tau: float) -> torch.Tensor:
    """IQL's expectile loss (baselines.iql.expectile_loss), with the weight in diff's own dtype: iql's
    `(diff < 0).float()` makes the weight float32, so its float64 losses carry float32 rounding of tau."""
    # (B,) tau where diff >= 0, 1 - tau where diff < 0
    weight = torch.abs(tau - (diff < 0).to(diff.dtype))
    return (weight * diff**2).mean()


def return_conditioned_loss(
    action_preds: torch.Tensor, actions: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """The loss of a return-conditioned policy over a window (dt.Model.loss): mean over real steps only.

    action_preds (B, K, A) floats (continuous) or logits (discrete); actions (B, K, A) float or (B, K) int;
    mask (B, K) bool, True = real step (False = left padding). Returns a scalar: the mean squared error over every
    real step's action dimensions, or the mean cross-entropy over real steps when actions are ints.
    """
    if not torch.is_floating_point(actions):
        # (real steps, A) logits vs (real steps,) ids
        return F.cross_entropy(action_preds[mask], actions[mask])
    return ((action_preds - actions) ** 2)[mask].mean()


def interleave_tokens(
    returns: torch.Tensor, states: torch.Tensor, actions: torch.Tensor
) -> torch.Tensor:
    """DT's token stream (dt.Model.forward): (B, K, D) embeddings of R̂, s, a -> (B, 3K, D) ordered
    R̂_1, s_1, a_1, R̂_2, s_2, a_2, ...  (token 3t is R̂_t, 3t+1 is s_t, 3t+2 is a_t)."""
    B, K, D = returns.shape
    # (B, K, 3, D) -> (B, 3K, D)
    return torch.stack([returns, states, actions], dim=2).reshape(B, 3 * K, D)


def causal_mask(T: int, P: int = 0) -> torch.Tensor:
    """The causal mask of transformer.Transformer.forward: (T, P+T) bool, True where query i (the token at absolute
    position P+i, P tokens already in the KV cache) may attend key j, i.e. where j <= P + i."""
    q_pos = torch.arange(P, P + T)[:, None]  # (T, 1) absolute positions of the queries
    k_pos = torch.arange(P + T)[None, :]  # (1, P+T)
    return k_pos <= q_pos


def update_return_to_go(rtg, rewards, finished, rtg_scale: float = 1.0):
    """DT's R̂ update after each env step (dt.Agent.observe): R̂_{t+1} = R̂_t - r_t / rtg_scale for envs still running.

    rtg (N,) scaled R̂ of each env; rewards (N,) raw rewards; finished (N,) bool, envs already done before this
    step (their R̂ stays). Returns a new (N,) float32 array; the inputs are not modified.
    """
    rtg = np.array(rtg, np.float32)
    running = ~np.asarray(finished, bool)
    rtg[running] -= np.asarray(rewards, np.float32)[running] / rtg_scale
    return rtg


def fit_quantile_bins(x, n_bins: int):
    """TT's quantile discretizer (the lines of tokenizer.Discretizer.fit, kind='quantile', kept in float64: the
    Discretizer itself stores its centers as float32): x (N, D) -> (edges (D, N+1), centers (D, n_bins)). Edges are
    the data's quantiles 0, 1/n, ..., 1 per dimension; a bin's center is the mean of the training values that fall
    in it (the midpoint of its edges if none do)."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)  # (N, D)
    edges = np.quantile(x, np.linspace(0, 1, n_bins + 1), axis=0).T  # (D, n_bins + 1)
    centers = (edges[:, :-1] + edges[:, 1:]) / 2
    idx = Discretizer._bin(edges, x)  # (N, D)
    for d in range(x.shape[1]):  # the mean of the data inside each bin, where there is any
        sums = np.bincount(idx[:, d], weights=x[:, d], minlength=n_bins)
        counts = np.bincount(idx[:, d], minlength=n_bins)
        filled = counts > 0
        centers[d, filled] = sums[filled] / counts[filled]
    return edges, centers


def discretize(x, edges):
    """Discretizer.encode: x (..., D) floats -> (..., D) int64 bins in [0, N): bin k holds edges[k] <= x <
    edges[k+1] (the last bin includes its right edge); values outside the fitted range clip to the end bins."""
    edges = np.asarray(edges, np.float64)
    return Discretizer(edges, np.zeros((edges.shape[0], edges.shape[1] - 1)), "quantile").encode(x)


def undiscretize(idx, centers):
    """Discretizer.decode's lookup: (..., D) bin ids -> (..., D) float64 values, centers[d, idx[..., d]] (the same
    `take_along_axis` line, without decode's final float32 cast: the exercise keeps the centers' float64)."""
    idx, centers = np.asarray(idx, np.int64), np.asarray(centers, np.float64)
    flat = idx.reshape(-1, idx.shape[-1])  # (rows, D)
    return np.take_along_axis(centers.T, flat, axis=0).reshape(idx.shape)


def beam_step(rewards: torch.Tensor, n_envs: int, beam_width: int, discount: float):
    """The selection half of one beam-search step of TT (the last lines of tt.expand_beams).

    rewards (n_envs·C, H+1): row = one candidate plan, env-major (env e owns rows e·C … e·C+C-1); columns hold the
    plan's expected rewards r_0 … r_t and, in column t+1, its value V_t (later columns 0). A candidate's score is
    Σ_h γ^h rewards[h] = Σ_{h≤t} γ^h r_h + γ^(t+1) V_t. Keep the beam_width best candidates of every env.
    Returns keep (n_envs·beam_width,) int64 row indices, env-major and best first within an env, and scores
    (n_envs, beam_width) sorted best first. Among tied candidates any choice is right.
    """
    gammas = discount ** torch.arange(rewards.shape[1], dtype=rewards.dtype)  # (H+1,) 1, γ, γ², ...
    candidates = (rewards * gammas).sum(-1).view(n_envs, -1)  # (n, C)
    scores, best = candidates.topk(beam_width, dim=1)  # (n, K), sorted best first
    # rows of `rewards`
    keep = (best + torch.arange(n_envs)[:, None] * candidates.shape[1]).flatten()
    return keep, scores


def plan_energy(log_p: torch.Tensor, plan: torch.Tensor) -> torch.Tensor:
    """LEAP's energy of a plan (leap.Model.energy) from its conditionals: E(τ) = -Σ_i log p(a_i | s, τ_-i).

    log_p (B, L, V): log p(a_i = v | s, τ_-i) for every position i and action v (leap.Model.conditionals);
    plan (B, L) int action ids. Returns (B,) energies in nats (>= 0).
    """
    return -log_p.gather(-1, plan[..., None]).squeeze(-1).sum(1)


def refine_step(log_p: torch.Tensor, plan: torch.Tensor):
    """One iteration of LEAP's energy minimization (leap.Model.refine_step, resample='max_energy', temperature 0).

    log_p (B, L, V) the plan's conditionals; plan (B, L). In each plan, find the token with the highest energy
    -log p(a_i | s, τ_-i) (the first one on ties), and replace it by its most likely action (the first on ties).
    Returns (new plan (B, L), energy (B,) of the plan *before* the step); `plan` is not modified.
    """
    token_energy = -log_p.gather(-1, plan[..., None]).squeeze(-1)  # (B, L): each term of E(τ)
    B = plan.shape[0]
    i = token_energy.argmax(1)  # (B,) the token the rest of the plan disagrees with most
    rows = torch.arange(B)
    plan = plan.clone()
    plan[rows, i] = log_p[rows, i].argmax(-1)  # the greedy Gibbs step on token i
    return plan, token_energy.sum(1)


def normalized_score(ret, random_return: float, expert_return: float):
    """D4RL's normalized score (envs.normalized_score): 100 (R - R_random) / (R_expert - R_random); 0 = random,
    100 = expert. ret: a float or an array of returns (same shape out)."""
    return 100.0 * (np.asarray(ret, np.float64) - random_return) / (expert_return - random_return)


def mean_and_std(values):
    """The cell of the comparison table (compare.summarize): mean and POPULATION std (ddof = 0) of one algorithm's
    scores over seeds. values (n,) -> (float, float); one seed gives std 0."""
    v = np.asarray(values, np.float64)
    return float(np.mean(v)), float(np.std(v))


# ---------------------------------------------------------------------------------------------- grading


def lessons_dir() -> Path:
    return Path(os.environ.get("MINIRL_LESSONS_DIR", ROOT / "lessons"))


def load_exercise(lesson: Lesson, folder: Path | None = None) -> ModuleType:
    """Imports lessons/<folder>/exercise.py fresh (never a cached copy), as module `lessonNN_exercise`."""
    path = (folder or lessons_dir()) / lesson.folder / "exercise.py"
    if not path.exists():
        raise FileNotFoundError(f"no exercise file at {path}")
    name = f"{lesson.marker}_exercise"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_graders() -> ModuleType:
    """tests/assignments/graders.py, imported by path (it is not part of the installed package)."""
    path = ROOT / "tests" / "assignments" / "graders.py"
    if not path.exists():
        raise FileNotFoundError(
            f"the graders are not here ({path}); run `minirl lessons` from a clone of the repo"
        )
    spec = importlib.util.spec_from_file_location("minirl_graders", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["minirl_graders"] = module
    spec.loader.exec_module(module)
    return module


def grade_lesson(lesson: Lesson, graders: ModuleType | None = None, box=None) -> dict:
    """Grades one lesson's exercise.py: {"status": 'not started'|'failing'|'passing', "exercises": {name: result}}.

    Each result is {"status": 'not started'|'failing'|'passing', "detail": one line}. The file is checked
    statically and run in a sandbox process (tests/assignments/sandbox.py), never imported here."""
    graders = graders or load_graders()
    path = lessons_dir() / lesson.folder / "exercise.py"
    if not path.exists():
        line = f"no exercise file at {path}"
        return {
            "status": "failing",
            "exercises": {n: {"status": "failing", "detail": line} for n in lesson.exercises},
        }
    own = box is None
    box = box or graders.sandbox.Sandbox()
    try:
        results = {
            name: graders.run_grader(lesson.number, name, path, box) for name in lesson.exercises
        }
    finally:
        if own:
            box.close()
    statuses = {r["status"] for r in results.values()}
    status = (
        "passing"
        if statuses == {"passing"}
        else "not started"
        if statuses == {"not started"}
        else "failing"
    )
    return {"status": status, "exercises": results}


def print_status(console) -> None:
    """`minirl lessons`: one row per lesson with its status for this learner, then what to run next."""
    from rich.table import Table

    start = time.perf_counter()
    graders = load_graders()
    box = graders.sandbox.Sandbox()
    table = Table(
        "lesson", "title", "exercises", "status", title=f"minirl course · {lessons_dir()}"
    )
    colors = {"passing": "green", "failing": "red", "not started": "dim"}
    first_open = None
    for lesson in LESSONS:
        result = grade_lesson(lesson, graders, box)
        parts = []
        for name, r in result["exercises"].items():
            mark = {"passing": "✓", "failing": "✗", "not started": "·"}[r["status"]]
            parts.append(f"{mark} {name}")
            if r["status"] == "failing" and first_open is None:
                first_open = (lesson, name, r["detail"])
        if result["status"] != "passing" and first_open is None:
            first_open = (lesson, None, None)
        color = colors[result["status"]]
        table.add_row(
            f"{lesson.number:02d}",
            lesson.title,
            "\n".join(parts),
            f"[{color}]{result['status']}[/{color}]",
        )
    box.close()
    console.print(table)
    if first_open is None:
        console.print("Every exercise passes. Well done.")
    else:
        lesson, name, detail = first_open
        console.print(
            f"next: read lessons/{lesson.folder}/README.md and edit its exercise.py; check with\n"
            f"  pytest tests/assignments --student -m {lesson.marker}"
        )
        if detail:
            console.print(f"{lesson.marker} · {name}: {detail}", markup=False, highlight=False)
    console.print(f"(graded in {time.perf_counter() - start:.1f} s)", style="dim")


# ---------------------------------------------------------------------------------------------- quoted code

QUOTED_BLOCK = re.compile(
    r"(<!--\s*quote:\s*(\S+?)::(\S+)\s*-->\s*\n```python notest\n)(.*?)(^```)", re.M | re.S
)


def quoted_source(file: str, qualname: str) -> str:
    """The current source of `qualname` in `file` (e.g. "minirl/dt.py", "Agent.act"), dedented."""
    obj = importlib.import_module(file.removesuffix(".py").replace("/", "."))
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return textwrap.dedent(inspect.getsource(obj))


def refresh_quotes(path: Path) -> int:
    """Re-pastes every `<!-- quote: file::qualname -->` block of a lesson from the source; returns blocks changed."""
    text = Path(path).read_text()
    changed = 0

    def paste(m: re.Match) -> str:
        nonlocal changed
        source = quoted_source(m.group(2), m.group(3))
        changed += source != m.group(4)
        return m.group(1) + source + m.group(5)

    Path(path).write_text(QUOTED_BLOCK.sub(paste, text))
    return changed


# python -m minirl.course: refresh the code quoted in every lesson after a change
if __name__ == "__main__":
    for readme in sorted(lessons_dir().glob("*/README.md")):
        print(f"{readme}: {refresh_quotes(readme)} quoted blocks updated")
