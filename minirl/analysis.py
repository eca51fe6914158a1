"""Looking inside trained models (the source's section 7): `minirl analyze KIND RUN [RUN ...] --out DIR`.

Every analysis reads real things only: attention maps captured by the shared transformer
(`Transformer.forward(..., capture_attention=True)`, through each model's own `forward`: DT and LEAP take
capture_attention themselves, TT's forward is run inside `capturing`) on windows of the run's own dataset, the
agents' traces from real rollouts, and wall-clock timings. Each writes a PNG and a JSON of the numbers behind it.
Nothing here recomputes attention.

    attention          heatmaps of attention (mean over heads), one panel per layer, token types marked on the axes
    attention-by-type  over an episode, the share of each decision's attention on return/state/action/... tokens
                       and on the current, recent (1-3 steps back), old (>= 4 back) and future steps
    horizon            attention mass against the distance in timesteps between query and key, per layer and model
    entropy            attention entropy per head and layer; specialized (low-entropy) and generalist heads
    sparsity           share of keys that hold 90% of a query's attention, and the Gini coefficient, per model
    rtg                DT: R̂ against the actual remaining return over episodes, and achieved vs target return
    error              open-loop prediction error against horizon (each model's measure: ERROR_DEFINITION)
    cost               milliseconds per decision vs beam width (TT) and refinement iterations (LEAP), DT's as a line
    energy             LEAP: plan energy against refinement iteration over held-out start states
    curve              the learning curve from metrics.jsonl: loss against step, evaluation score against step and
                       against training minutes (any algorithm; the score rows come from `train --eval-every`)
    all                every analysis that applies to the given runs, plus an index.md that embeds the figures

Definitions (query = the token whose output is read, key = a token it may attend to; a row of a map sums to 1):
    decision query   the token whose output gives the action: DT's s_t, TT's last state token before a_t,
                     LEAP's (masked) a_t
    entropy          H = -Σ_k p_k log p_k (nats) over the keys a query may see; uniform over n keys gives log n
    share90          smallest fraction of a query's visible keys whose weights sum to >= 0.9 (lower = sparser)
    Gini             Σ_i Σ_j |p_i - p_j| / (2 n Σ p) over the n visible keys: 0 uniform, (n-1)/n one-hot
    distance         query timestep - key timestep (0 = same step, > 0 the past, < 0 the future)
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from minirl import data
from minirl.envs import make_env
from minirl.evaluate import EnvLoop, rollout
from minirl.runs import load_run

KINDS = (
    "curve",
    "attention",
    "attention-by-type",
    "horizon",
    "entropy",
    "sparsity",
    "rtg",
    "error",
    "cost",
    "energy",
)
SEQUENCE_MODELS = ("dt", "tt", "leap")
APPLIES = (
    {kind: SEQUENCE_MODELS for kind in KINDS}
    | {"rtg": ("dt",), "energy": ("leap",)}
    | {"curve": SEQUENCE_MODELS + ("bc", "cql", "iql")}
)
RECENT = 3  # steps back that still count as "recent" in attention-by-type
# a head whose mean entropy is below this fraction of the uniform entropy is "specialized"
SPECIALIZED = 0.5
GENERALIST = 0.8  # ... above this fraction, a "generalist"
MODEL_NAMES = {"dt": "Decision Transformer", "tt": "Trajectory Transformer", "leap": "LEAP"}
TYPE_COLORS = {
    "return": "#d62728",
    "state": "#1f77b4",
    "action": "#2ca02c",
    "reward": "#ff7f0e",
    "value": "#9467bd",
    "mask": "#7f7f7f",
    "plan": "#17becf",
}


# ---------------------------------------------------------------------------------------------- metrics
# Pure functions on attention maps: (..., Tq, Tk) arrays whose rows sum to 1 over the allowed keys.


def _as_numpy(x) -> np.ndarray:
    return (
        x.detach().float().cpu().numpy()
        if isinstance(x, torch.Tensor)
        else np.asarray(x, np.float64)
    )


def causal_allowed(T: int) -> np.ndarray:
    """(T, T) bool, True where a causal query may see a key (key <= query)."""
    return np.tril(np.ones((T, T), bool))


def row_entropy(attn, allowed=None) -> np.ndarray:
    """(..., Tq, Tk) -> (..., Tq) entropy in nats of each query's attention; 0 log 0 counts as 0."""
    p = _as_numpy(attn)
    if allowed is not None:
        p = np.where(allowed, p, 0.0)
    logp = np.log(np.where(p > 0, p, 1.0))
    return -(p * logp).sum(-1)


def keys_for_mass(attn, mass: float = 0.9, allowed=None) -> np.ndarray:
    """(..., Tq, Tk) -> (..., Tq) share of each query's visible keys needed to hold `mass` of its attention.

    The keys are taken largest first; the share is (number needed) / (number visible). One-hot -> 1/n, uniform ->
    ceil(mass * n) / n.
    """
    p = _as_numpy(attn)
    n = (
        np.full(p.shape[:-1], p.shape[-1])
        if allowed is None
        else np.broadcast_to(allowed, p.shape).sum(-1)
    )
    if allowed is not None:
        p = np.where(allowed, p, 0.0)
    cumulative = np.cumsum(-np.sort(-p, axis=-1), axis=-1)
    # first index reaching the mass
    needed = (cumulative < mass * p.sum(-1, keepdims=True) - 1e-9).sum(-1) + 1
    return np.minimum(needed, n) / n


def gini(attn, allowed=None) -> np.ndarray:
    """(..., Tq, Tk) -> (..., Tq) Gini coefficient of each query's weights over its n visible keys.

    Computed as Σ_i (2i - n - 1) x_(i) / (n Σ x) over the weights sorted ascending, the same number as
    Σ_i Σ_j |x_i - x_j| / (2 n Σ x); 0 for a query with one visible key."""
    p = _as_numpy(attn)
    mask = np.ones(p.shape, bool) if allowed is None else np.broadcast_to(allowed, p.shape)
    ascending = np.sort(np.where(mask, p, np.inf), axis=-1)  # hidden keys sort last
    n = mask.sum(-1, keepdims=True)  # (..., Tq, 1)
    i = np.arange(1, p.shape[-1] + 1)
    weights = np.where(i <= n, 2 * i - n - 1, 0)
    values = np.where(np.isfinite(ascending), ascending, 0.0)
    total = values.sum(-1)
    out = (weights * values).sum(-1) / np.maximum(n[..., 0] * total, 1e-12)
    return np.where((n[..., 0] > 1) & (total > 0), out, 0.0)


def distance_mass(attn, query_steps, key_steps, queries=None, allowed=None) -> dict[int, float]:
    """Mean over queries of the attention mass at each timestep distance d = query step - key step.

    attn (Tq, Tk) one map (e.g. mean over heads); query_steps (Tq,), key_steps (Tk,) timesteps of the tokens;
    queries: the query rows to average over (default all); allowed (Tq, Tk): the keys each query may see (default
    all); only distances some chosen query can see are reported. The values sum to 1 (every row does).
    """
    p = _as_numpy(attn)
    rows = np.arange(p.shape[0]) if queries is None else np.asarray(queries)
    distance = np.asarray(query_steps)[rows, None] - np.asarray(key_steps)[None, :]  # (Q, Tk)
    visible = np.ones(distance.shape, bool) if allowed is None else np.asarray(allowed)[rows]
    out: dict[int, float] = {}
    for d in np.unique(distance[visible]):
        out[int(d)] = float((p[rows] * (distance == d)).sum(-1).mean())
    return out


def group_shares(attn_row, groups, names) -> np.ndarray:
    """One query's attention (Tk,) summed per group: groups (Tk,) labels -> (len(names),) shares (sum to 1)."""
    row, groups = _as_numpy(attn_row), np.asarray(groups)
    return np.array([row[groups == name].sum() for name in names])


def age_groups(query_step: int, key_steps) -> np.ndarray:
    """Each key's age relative to the query's step: 'current', 'recent' (1..RECENT back), 'old', 'future'."""
    d = query_step - np.asarray(key_steps)
    return np.where(
        d == 0, "current", np.where(d < 0, "future", np.where(d <= RECENT, "recent", "old"))
    )


def head_entropy_summary(maps: list, allowed) -> dict:
    """maps: L arrays (N, H, T, T) or (H, T, T); allowed (.., T, T). Per layer and head: mean entropy (nats), the
    mean uniform entropy log n over the same queries, their ratio, and the head's class. Queries that can see only
    one key (a causal model's first token) are left out: their entropy is 0 whatever the model learned."""
    layers = []
    for layer_maps in maps:
        p = _as_numpy(layer_maps)
        p = p.reshape(-1, *p.shape[-3:])  # (N, H, T, T)
        a = np.broadcast_to(allowed, (p.shape[0], 1) + p.shape[-2:])
        n = a.sum(-1)  # (N, 1, T)
        keep = np.broadcast_to(n >= 2, p.shape[:-1])  # (N, H, T)
        entropy = row_entropy(p, a)
        uniform = np.broadcast_to(np.log(np.maximum(n, 1)), p.shape[:-1])
        heads = []
        for h in range(p.shape[1]):
            e, u = entropy[:, h][keep[:, h]], uniform[:, h][keep[:, h]]
            ratio = float(e.mean() / u.mean()) if len(u) and u.mean() > 0 else float("nan")
            kind = (
                "specialized"
                if ratio < SPECIALIZED
                else "generalist"
                if ratio > GENERALIST
                else "mixed"
            )
            heads.append(
                {
                    "entropy": float(e.mean()),
                    "entropy_std": float(e.std()),
                    "uniform": float(u.mean()),
                    "ratio": ratio,
                    "class": kind,
                }
            )
        layers.append(heads)
    return {"layers": layers, "specialized_below": SPECIALIZED, "generalist_above": GENERALIST}


# ---------------------------------------------------------------------------------------------- runs and windows


@dataclass
class Run:
    """A loaded run directory: the algorithm module, its config, tokenizer, model (eval mode) and checkpoint."""

    path: Path
    module: object
    cfg: object
    tok: object
    model: torch.nn.Module
    state: dict
    _arrays: list | None = field(default=None, repr=False)

    @property
    def algo(self) -> str:
        return self.state["algo"]

    @property
    def dataset(self) -> str:
        return self.state["dataset"]

    @property
    def env(self) -> str:
        return self.state["env"]

    @property
    def label(self) -> str:
        return f"{self.algo.upper()} · {self.dataset} · {self.path.name}"

    def title(self, what: str) -> str:
        return f"{what}\n{MODEL_NAMES.get(self.algo, self.algo)} on {self.dataset}, run {self.path.name}"

    def arrays(self) -> list[dict]:
        """The run's dataset as the tokenizer's per-episode arrays (states, actions, rewards, rtg, timesteps; for TT
        also `tokens`, its (T, d + m + 2) bin ids per transition)."""
        if self._arrays is None:
            self._arrays = []
            for ep in data.load(self.dataset):
                arrays = self.tok.episode_arrays(ep)
                if self.algo == "tt":
                    arrays["tokens"] = self.module.episode_tokens(ep, self.tok, self.cfg)
                    arrays["terminations"] = np.asarray(ep["terminations"], bool)
                self._arrays.append(arrays)
        return self._arrays


def load(run_dir: str | Path) -> Run:
    module, cfg, tok, model, state = load_run(run_dir, "cpu")
    return Run(Path(run_dir), module, cfg, tok, model, state)


@dataclass
class Window:
    """Attention captured on one window of real steps.

    maps: L arrays (H, T, T) (query rows, key columns); allowed (T, T) keys each query may see; steps (T,)
    timestep of each token; types (T,) token type names; decisions: the rows of the decision queries (one per step
    that decides an action, in step order)."""

    maps: list[np.ndarray]
    allowed: np.ndarray
    steps: np.ndarray
    types: np.ndarray
    decisions: np.ndarray
    causal: bool


def context_steps(run: Run) -> int:
    """How many steps a model holds in view when it acts."""
    if run.algo == "tt":  # the transitions TT's planner keeps in view (at most its training window)
        return min(int(run.module.EVAL_OPTIONS["max_context_transitions"]), int(run.cfg.seq_len))
    # DT: K steps; LEAP: its plan's steps
    return int(run.cfg.context_len if run.algo == "dt" else run.cfg.horizon)


def capture(run: Run, episode: dict, start: int, end: int) -> Window:
    """Attention of `run`'s model on steps [start, end) of one episode (tokenizer arrays), real tokens only."""
    return CAPTURE[run.algo](run, episode, start, end)


@torch.no_grad()
def _dt_capture(run: Run, ep: dict, start: int, end: int) -> Window:
    """DT: tokens (R̂_t, s_t, a_t) per step; every window is fed as in training (absolute timesteps, real R̂)."""
    K = end - start
    sl = slice(start, end)
    _, maps = run.model(
        torch.as_tensor(ep["rtg"][sl])[None],
        torch.as_tensor(ep["states"][sl])[None],
        torch.as_tensor(ep["actions"][sl])[None],
        torch.as_tensor(np.minimum(ep["timesteps"][sl], run.cfg.max_timestep - 1))[None],
        capture_attention=True,
    )
    return Window(
        [_as_numpy(m[0]) for m in maps],
        causal_allowed(3 * K),
        np.repeat(np.arange(start, end), 3),
        np.tile(np.array(["return", "state", "action"]), K),
        3 * np.arange(K) + 1,
        True,
    )


@torch.no_grad()
def _leap_capture(run: Run, ep: dict, start: int, end: int) -> Window:
    """LEAP: [s_start, a_start .. a_{end-1}] (the dataset's actions as the plan, at most `horizon` steps) with the
    first step's tokens [MASK]ed: the decision being made, as in a refinement step of planning."""
    n, A = min(end, len(ep["rewards"])) - start, run.model.tokens_per_step
    n = min(n, run.cfg.horizon)
    actions = ep["actions"][start : start + n]
    # (n, A)
    tokens = actions.reshape(n, 1) if run.tok.discrete else run.tok.discretizer.encode(actions)
    plan = torch.as_tensor(tokens.reshape(1, n * A), dtype=torch.long)
    plan[0, :A] = run.model.mask_id
    _, maps = run.model(
        torch.as_tensor(ep["states"][start : start + 1]), plan, capture_attention=True
    )
    types = np.array(["state"] + ["mask"] * A + ["plan"] * ((n - 1) * A))
    steps = np.r_[start, start + np.repeat(np.arange(n), A)]
    return Window(
        [_as_numpy(m[0]) for m in maps],
        np.ones((1 + n * A, 1 + n * A), bool),
        steps,
        types,
        np.array([1]),
        False,
    )


def _leap_decision_view(run: Run, ep: dict, t: int) -> tuple[Window, int]:
    """LEAP decides a_t from s_t and the plan that follows it: its query is a_t's (first) token, row 1."""
    return _leap_capture(run, ep, t, t + run.cfg.horizon), 1


@contextlib.contextmanager
def capturing(transformer):
    """Runs a model's own forward while its shared Transformer also returns its attention maps (for models whose
    forward has no capture_attention switch): yields the list that collects one list of L maps per call."""
    collected, original = [], transformer.forward

    def forward(*args, **kwargs):
        x, maps = original(*args, **dict(kwargs, capture_attention=True))
        collected.append(maps)
        return x

    transformer.forward = forward
    try:
        yield collected
    finally:
        del transformer.forward  # the class's forward again


def tt_token_types(run: Run) -> np.ndarray:
    """(td,) the type of each token of a TT transition: d state, m action, reward, value."""
    m = run.model
    return np.array(["state"] * m.obs_dim + ["action"] * m.act_dim + ["reward", "value"])


@torch.no_grad()
def _tt_capture(run: Run, ep: dict, start: int, end: int, upto_state: bool = False) -> Window:
    """TT: transitions [start, end) as tokens [s¹..s^d, a¹..a^m, r, V] (the final V dropped, as in training; with
    upto_state the last transition stops after its state, as when the planner decides a_{end-1}). BabyAI: one state
    token per transition, its observation summed into it. Value tokens are hidden from every query but itself."""
    model, td, d = run.model, run.model.transition_dim, run.model.obs_dim
    n = end - start
    tokens = torch.as_tensor(ep["tokens"][start:end]).reshape(1, n * td)
    tokens = tokens[:, : (n - 1) * td + d] if upto_state else tokens[:, :-1]
    states = torch.as_tensor(ep["states"][start:end])[None] if model.discrete else None
    with capturing(model.transformer) as collected:
        model(tokens, states=states)
    T = tokens.shape[1]
    position = np.arange(T)
    allowed = causal_allowed(T) & (position % td != td - 1)[None, :] | np.eye(T, dtype=bool)
    return Window(
        [_as_numpy(m[0]) for m in collected[0]],
        allowed,
        start + position // td,
        np.tile(tt_token_types(run), n)[:T],
        td * np.arange(n) + d - 1,
        True,
    )


def _tt_decision_view(run: Run, ep: dict, t: int) -> tuple[Window, int]:
    """TT decides a_t from the last transitions in its view and s_t: the query is s_t's last token (it predicts
    a¹_t)."""
    w = _tt_capture(run, ep, max(0, t + 1 - context_steps(run)), t + 1, upto_state=True)
    return w, int(w.decisions[-1])


CAPTURE = {"dt": _dt_capture, "tt": _tt_capture, "leap": _leap_capture}


def windows_for(run: Run, max_windows: int = 32) -> list[Window]:
    """Up to max_windows windows of min(K, length) steps from the start of the longest episodes (deterministic)."""
    arrays = run.arrays()
    K = context_steps(run)
    order = sorted(range(len(arrays)), key=lambda i: (-len(arrays[i]["rewards"]), i))[:max_windows]
    return [capture(run, arrays[i], 0, min(K, len(arrays[i]["rewards"]))) for i in order]


def decision_view(run: Run, episode: dict, t: int) -> tuple[Window, int]:
    """What the model attends to when it decides a_t: (window, row of the decision query in it).

    Causal models (DT, TT) see the last K steps up to s_t; the decision query is the newest one."""
    if run.algo in DECISION_VIEW:
        return DECISION_VIEW[run.algo](run, episode, t)
    w = capture(run, episode, max(0, t + 1 - context_steps(run)), t + 1)
    return w, int(w.decisions[-1])


DECISION_VIEW: dict = {"tt": _tt_decision_view, "leap": _leap_decision_view}


# ---------------------------------------------------------------------------------------------- figures and files


def _figure(nrows: int = 1, ncols: int = 1, width: float = 4.5, height: float = 3.8, **kwargs):
    """A matplotlib Figure drawn with the Agg canvas (no pyplot state, no display needed) and its axes grid."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


def _suptitle(fig, text: str) -> None:
    """The figure's title, each line wrapped to the figure's width."""
    import textwrap

    width = int(fig.get_figwidth() * 13)
    fig.suptitle("\n".join(textwrap.fill(line, width) for line in text.split("\n")), fontsize=10)


def _runs_line(runs: list[Run]) -> str:
    return " · ".join(
        f"{MODEL_NAMES.get(r.algo, r.algo)} on {r.dataset}, run {r.path.name}" for r in runs
    )


def _save(fig, numbers: dict, out: Path, stem: str) -> list[Path]:
    """Writes out/stem.png and out/stem.json (the numbers behind the figure); returns both paths."""
    out.mkdir(parents=True, exist_ok=True)
    png, js = out / f"{stem}.png", out / f"{stem}.json"
    fig.savefig(png, dpi=110)
    js.write_text(json.dumps(_jsonable(numbers), indent=1, allow_nan=True))
    return [png, js]


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        return round(float(x), 6)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def _run_info(run: Run) -> dict:
    return {
        "run": str(run.path),
        "algo": run.algo,
        "dataset": run.dataset,
        "env": run.env,
        "train_step": run.state.get("step"),
    }


def _mark_token_types(ax, w: Window) -> list:
    """Colour strips along the top and right edges of a heatmap naming each token's type; ticks at step starts.
    Returns legend handles (one per type)."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    names = list(dict.fromkeys(w.types.tolist()))
    ids = np.array([names.index(t) for t in w.types])
    cmap = ListedColormap([TYPE_COLORS.get(n, "#000000") for n in names])
    T = len(ids)
    top = ax.inset_axes([0, 1.01, 1, 0.035], sharex=ax)
    right = ax.inset_axes([1.01, 0, 0.035, 1], sharey=ax)
    top.imshow(
        ids[None, :],
        aspect="auto",
        cmap=cmap,
        vmin=-0.5,
        vmax=len(names) - 0.5,
        extent=(-0.5, T - 0.5, 0, 1),
    )
    right.imshow(
        ids[:, None],
        aspect="auto",
        cmap=cmap,
        vmin=-0.5,
        vmax=len(names) - 0.5,
        extent=(0, 1, T - 0.5, -0.5),
    )
    for a in (top, right):
        a.set_axis_off()
    starts = np.flatnonzero(np.r_[True, np.diff(w.steps) != 0])
    every = max(1, len(starts) // 10)
    ax.set_xticks(starts[::every], [str(s) for s in w.steps[starts][::every]])
    ax.set_yticks(starts[::every], [str(s) for s in w.steps[starts][::every]])
    return [Patch(color=TYPE_COLORS.get(n, "#000000"), label=f"{n} token") for n in names]


# ---------------------------------------------------------------------------------------------- 1. attention


def attention(run: Run, out: Path) -> list[Path]:
    """Heatmaps of the head-averaged attention, one panel per layer, on a real window of the run's dataset."""
    arrays = run.arrays()
    # the longest episode
    index = max(range(len(arrays)), key=lambda i: (len(arrays[i]["rewards"]), -i))
    end = min(context_steps(run), len(arrays[index]["rewards"]))
    w = capture(run, arrays[index], 0, end)
    L = len(w.maps)
    fig, axes = _figure(1, L, width=4.6, height=5.0)
    layers = []
    for i, m in enumerate(w.maps):
        mean = m.mean(0)  # (T, T) over heads
        ax = axes[0, i]
        image = ax.imshow(mean, cmap="viridis", vmin=0, interpolation="nearest")
        ax.set_title(f"layer {i}", pad=14)
        ax.set_xlabel("key token (labelled by timestep)")
        ax.set_ylabel("query token (labelled by timestep)")
        handles = _mark_token_types(ax, w)
        fig.colorbar(image, ax=ax, shrink=0.7, pad=0.06, label="attention weight (probability)")
        layers.append(
            {
                "mean_over_heads": mean,
                "mass_above_diagonal": float(np.triu(mean, 1).sum() / len(mean)),
            }
        )
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=len(handles),
        fontsize=8,
        title="token type (strips on the top and right edges)",
        title_fontsize=8,
    )
    _suptitle(
        fig,
        run.title(
            f"Attention (mean over {w.maps[0].shape[0]} head(s)), dataset episode {index}, "
            f"steps 0-{end - 1}"
        ),
    )
    numbers = dict(
        _run_info(run),
        episode=index,
        steps=[0, end],
        token_types=w.types,
        token_steps=w.steps,
        causal=w.causal,
        layers=layers,
    )
    return _save(fig, numbers, out, f"attention-{run.path.name}")


# ---------------------------------------------------------------------------------------------- 2. by type


def attention_by_type(run: Run, out: Path, max_steps: int = 300) -> list[Path]:
    """Over the longest dataset episode: each decision's attention shares per token type and per step age; and per
    layer, the type shares over the decisions of the 8 longest episodes, with uniform attention's for reference."""
    arrays = run.arrays()
    index = max(range(len(arrays)), key=lambda i: (len(arrays[i]["rewards"]), -i))
    T = min(max_steps, len(arrays[index]["rewards"]))
    views = [decision_view(run, arrays[index], t) for t in range(T)]
    type_names = list(dict.fromkeys(t for w, _ in views for t in w.types.tolist()))
    age_names = ["current", "recent", "old", "future"]
    L = len(views[0][0].maps)
    by_type = np.zeros((L, T, len(type_names)))
    by_age = np.zeros((L, T, len(age_names)))
    for t, (w, row) in enumerate(views):
        ages = age_groups(w.steps[row], w.steps)
        for layer, m in enumerate(w.maps):
            p = m.mean(0)[row]  # (T_keys,) this decision's attention, mean over heads
            by_type[layer, t] = group_shares(p, w.types, type_names)
            by_age[layer, t] = group_shares(p, ages, age_names)
    if not (by_age[..., 3] > 0).any():
        age_names, by_age = age_names[:3], by_age[..., :3]
    fig, axes = _figure(1, 3, width=4.8, height=3.8)
    steps = np.arange(T)
    for ax, shares, names, what in (
        (axes[0, 0], by_type, type_names, "token type"),
        (axes[0, 1], by_age, age_names, "step age"),
    ):
        mean = shares.mean(0)  # (T, groups) mean over layers
        colors = [TYPE_COLORS.get(n) for n in names] if what == "token type" else None
        if T > 1:
            ax.stackplot(steps, mean.T, labels=names, colors=colors, alpha=0.85)
        else:
            ax.bar(steps, mean[:, 0], label=names[0])
        ax.set_xlabel("episode timestep t (decision)")
        ax.set_ylabel("share of the decision's attention (0-1)")
        ax.set_ylim(0, 1)
        ax.set_title(f"by {what} (mean over layers and heads)")
        ax.legend(fontsize=7, loc="upper right")
    # per layer over many decisions (those of `horizon`), against attention spread uniformly over the visible keys
    many = _decision_views(run)
    per_layer = np.array(
        [
            [group_shares(w.maps[layer].mean(0)[row], w.types, type_names) for w, row in many]
            for layer in range(L)
        ]
    ).mean(1)  # (L, types)
    uniform = np.mean(
        [
            group_shares(w.allowed[row] / w.allowed[row].sum(), w.types, type_names)
            for w, row in many
        ],
        0,
    )  # (types,)
    ax = axes[0, 2]
    width = 0.8 / len(type_names)
    for j, name in enumerate(type_names):
        x = np.arange(L) + j * width
        ax.bar(x, per_layer[:, j], width, label=name, color=TYPE_COLORS.get(name))
        ax.scatter(
            x,
            np.full(L, uniform[j]),
            marker="_",
            s=150,
            color="k",
            zorder=3,
            label="uniform over visible keys" if j == 0 else None,
        )
    ax.set_xticks(np.arange(L) + 0.4 - width / 2, [f"layer {i}" for i in range(L)])
    ax.set_ylabel("mean share of decision attention (0-1)")
    ax.set_title(
        f"per layer, mean over {len(many)} decisions ({min(8, len(arrays))} longest episodes)",
        fontsize=9,
    )
    ax.legend(fontsize=7)
    _suptitle(
        fig,
        run.title(
            f"Where each decision looks (left, middle: dataset episode {index}, {T} steps; "
            f"recent = 1-{RECENT} steps back, old = more)"
        ),
    )
    numbers = dict(
        _run_info(run),
        episode=index,
        type_names=type_names,
        age_names=age_names,
        by_type_per_layer=by_type,
        by_age_per_layer=by_age,
        type_share_per_layer_this_episode=by_type.mean(1),
        age_share_per_layer=by_age.mean(1),
        decisions=len(many),
        type_share_per_layer=per_layer,
        type_share_uniform=uniform,
    )
    return _save(fig, numbers, out, f"attention-by-type-{run.path.name}")


# ---------------------------------------------------------------------------------------------- 3. horizon


def _decision_views(
    run: Run, max_episodes: int = 8, max_steps: int = 100
) -> list[tuple[Window, int]]:
    arrays = run.arrays()
    order = sorted(range(len(arrays)), key=lambda i: (-len(arrays[i]["rewards"]), i))[:max_episodes]
    return [
        decision_view(run, arrays[i], t)
        for i in order
        for t in range(min(max_steps, len(arrays[i]["rewards"])))
    ]


def _mass_by_distance(
    views: list[tuple[Window, int]], attention_of
) -> tuple[np.ndarray, np.ndarray]:
    """Mean over decisions of distance_mass for the attention row attention_of(window, row) -> (distances, mass)."""
    total: dict[int, float] = {}
    for w, row in views:
        full = np.zeros((len(w.steps), len(w.steps)))
        full[row] = attention_of(w, row)
        for d, mass in distance_mass(full, w.steps, w.steps, [row], w.allowed).items():
            total[d] = total.get(d, 0.0) + mass / len(views)
    distances = np.array(sorted(total))
    return distances, np.array([total[d] for d in distances])


def horizon(runs: list[Run], out: Path) -> list[Path]:
    """Attention mass of the decision queries against timestep distance, per layer, one panel per model.

    The dashed grey line is what attention spread uniformly over the visible keys would give: a step with more
    visible tokens draws more mass under uniform attention too, so locality means "above the grey line"."""
    fig, axes = _figure(1, len(runs), width=4.8, height=3.8, sharey=True)
    numbers = {"runs": []}
    for ax, run in zip(axes[0], runs):
        views = _decision_views(run)
        layers = []
        for layer in range(len(views[0][0].maps)):
            distances, mass = _mass_by_distance(views, lambda w, row: w.maps[layer].mean(0)[row])
            ax.plot(distances, mass, marker="o", ms=3, label=f"layer {layer}")
            layers.append(
                {
                    "distance": distances,
                    "mass": mass,
                    "mean_distance": float((distances * mass).sum()),
                    "mass_at_0": float(mass[distances == 0].sum()),
                    "mass_within_recent": float(mass[np.abs(distances) <= RECENT].sum()),
                    "mass_in_future": float(mass[distances < 0].sum()),
                }
            )
        distances, uniform = _mass_by_distance(
            views, lambda w, row: w.allowed[row] / w.allowed[row].sum()
        )
        ax.plot(distances, uniform, "--", color="grey", lw=1, label="uniform over visible keys")
        ax.set_xlabel("query step − key step (timesteps; < 0 = future)")
        ax.set_ylabel("mean attention mass (fraction)")
        ax.set_title(f"{run.algo.upper()} · {run.dataset} · {run.path.name}", fontsize=9)
        ax.legend(fontsize=7)
        numbers["runs"].append(
            dict(
                _run_info(run),
                decisions=len(views),
                layers=layers,
                uniform={
                    "distance": distances,
                    "mass": uniform,
                    "mean_distance": float((distances * uniform).sum()),
                    "mass_within_recent": float(uniform[np.abs(distances) <= RECENT].sum()),
                },
            )
        )
    _suptitle(
        fig,
        "How far back (or ahead) each decision looks: attention mass by timestep distance, mean over "
        "heads and decisions\n" + _runs_line(runs),
    )
    return _save(fig, numbers, out, "horizon")


# ---------------------------------------------------------------------------------------------- 4. entropy


def entropy(run: Run, out: Path) -> list[Path]:
    """Mean attention entropy of every head in every layer over real dataset windows (all queries with >= 2 keys)."""
    windows = windows_for(run)
    L = len(windows[0].maps)
    summary = {"layers": [[] for _ in range(L)]}
    for layer in range(L):
        # windows can differ in length, so each is summarised alone and the heads' numbers are pooled
        per_window = [
            head_entropy_summary([w.maps[layer]], w.allowed)["layers"][0] for w in windows
        ]
        H = len(per_window[0])
        for h in range(H):
            e = np.array([pw[h]["entropy"] for pw in per_window])
            u = np.array([pw[h]["uniform"] for pw in per_window])
            ratio = float(np.nanmean(e) / np.nanmean(u)) if np.nanmean(u) > 0 else float("nan")
            kind = (
                "specialized"
                if ratio < SPECIALIZED
                else "generalist"
                if ratio > GENERALIST
                else "mixed"
            )
            summary["layers"][layer].append(
                {
                    "entropy": float(np.nanmean(e)),
                    "uniform": float(np.nanmean(u)),
                    "ratio": ratio,
                    "class": kind,
                }
            )
    fig, axes = _figure(1, L, width=3.6, height=3.6, sharey=True)
    colors = {"specialized": "#d62728", "mixed": "#bcbd22", "generalist": "#1f77b4"}
    for layer, heads in enumerate(summary["layers"]):
        ax = axes[0, layer]
        for h, head in enumerate(heads):
            ax.bar(
                h,
                head["entropy"],
                color=colors[head["class"]],
                label=head["class"]
                if head["class"] not in [x["class"] for x in heads[:h]]
                else None,
            )
        ax.axhline(
            np.mean([head["uniform"] for head in heads]),
            ls="--",
            c="k",
            lw=1,
            label="uniform (log n)",
        )
        ax.set_xticks(range(len(heads)), [f"H{h}" for h in range(len(heads))])
        ax.set_xlabel("attention head")
        ax.set_ylabel("mean entropy (nats)")
        ax.set_title(f"layer {layer}")
        ax.legend(fontsize=7)
    _suptitle(
        fig,
        run.title(
            f"Attention entropy per head, {len(windows)} dataset windows (specialized: < "
            f"{SPECIALIZED:.0%} of uniform, generalist: > {GENERALIST:.0%})"
        ),
    )
    numbers = dict(
        _run_info(run),
        windows=len(windows),
        specialized_below=SPECIALIZED,
        generalist_above=GENERALIST,
        **summary,
    )
    return _save(fig, numbers, out, f"entropy-{run.path.name}")


# ---------------------------------------------------------------------------------------------- 5. sparsity


def sparsity(runs: list[Run], out: Path) -> list[Path]:
    """Per model: share of visible keys holding 90% of a query's attention, and the Gini coefficient."""
    numbers = {"runs": []}
    metrics = ("share90", "gini")
    for run in runs:
        values = {m: [] for m in metrics}
        per_layer = []
        windows = windows_for(run)
        for layer in range(len(windows[0].maps)):
            layer_values = {m: [] for m in metrics}
            for w in windows:
                keep = w.allowed.sum(-1) >= 2  # queries that have a choice
                layer_values["share90"].append(
                    keys_for_mass(w.maps[layer], 0.9, w.allowed)[:, keep].ravel()
                )
                layer_values["gini"].append(gini(w.maps[layer], w.allowed)[:, keep].ravel())
            row = {}
            for m in metrics:
                v = np.concatenate(layer_values[m])
                values[m].append(v)
                row[m] = {"mean": float(v.mean()), "var": float(v.var())}
            per_layer.append(row)
        overall = {
            m: {
                "mean": float(np.concatenate(values[m]).mean()),
                "var": float(np.concatenate(values[m]).var()),
                "n": int(sum(len(v) for v in values[m])),
            }
            for m in metrics
        }
        numbers["runs"].append(dict(_run_info(run), overall=overall, per_layer=per_layer))
    fig, axes = _figure(1, 2, width=4.6, height=3.8)
    width = 0.8 / len(runs)
    labels = ["keys holding 90% of mass\n(share of visible keys)", "Gini coefficient"]
    for j, (run, r) in enumerate(zip(runs, numbers["runs"])):
        means = [r["overall"][m]["mean"] for m in metrics]
        stds = [np.sqrt(r["overall"][m]["var"]) for m in metrics]
        axes[0, 0].bar(
            np.arange(2) + j * width, means, width, yerr=stds, capsize=3, label=run.label
        )
        variances = [r["overall"][m]["var"] for m in metrics]
        axes[0, 1].bar(np.arange(2) + j * width, variances, width, label=run.label)
    for ax, what in (
        (axes[0, 0], "mean (bar) ± std (whisker) over queries, heads, layers"),
        (axes[0, 1], "variance over queries, heads, layers"),
    ):
        ax.set_xticks(np.arange(2) + 0.4 - width / 2, labels, fontsize=8)
        ax.set_ylabel("value (dimensionless, 0-1)")
        ax.set_title(what, fontsize=9)
    fig.legend(
        *axes[0, 1].get_legend_handles_labels(),
        loc="outside lower center",
        ncol=len(runs),
        fontsize=7,
    )
    _suptitle(
        fig,
        "Attention sparsity on dataset windows (lower share90 / higher Gini = more focused)\n"
        + _runs_line(runs),
    )
    return _save(fig, numbers, out, "sparsity")


# ---------------------------------------------------------------------------------------------- 6. rtg (DT)


def rtg(
    run: Run, out: Path, episodes: int = 5, fractions=(0.0, 0.25, 0.5, 0.75, 1.0, 1.25)
) -> list[Path]:
    """DT: R̂ against the actual remaining return over held-out episodes; achieved vs target return over a sweep.

    DT decrements R̂ by each reward it receives, so R̂_t = target - Σ_{t'<t} r_t' and the actual remaining return is
    G - Σ_{t'<t} r_t' (G the episode's return): both come from the trace and the episode's return."""
    returns = np.array([a["rewards"].sum() for a in run.arrays()])
    best = float(returns.max())
    targets = [float(f * best) for f in fractions]
    default = run.module.default_target(run.tok)  # rtg applies to DT only (APPLIES)
    sweep = []
    for target in targets:
        r = rollout(
            run.module,
            run.model,
            run.tok,
            run.env,
            episodes=episodes,
            seed=10_000,
            progress=False,
            target_return=target,
        )
        sweep.append(
            {
                "target": target,
                "returns": r["returns"],
                "mean": r["return_mean"],
                "std": r["return_std"],
            }
        )
    traced = rollout(
        run.module,
        run.model,
        run.tok,
        run.env,
        episodes=episodes,
        seed=10_000,
        progress=False,
        target_return=default,
    )
    tracks = []
    for rtg_list, G in zip(traced["trace"]["rtg"], traced["returns"]):
        rtg_t = np.array(rtg_list)
        tracks.append(
            {"rtg": rtg_t, "remaining": G - (traced["trace"]["target_return"] - rtg_t), "return": G}
        )
    fig, axes = _figure(1, 2, width=5.0, height=3.8)
    ax = axes[0, 0]
    for i, track in enumerate(tracks):
        (line,) = ax.plot(track["rtg"], lw=1.5, label="R̂_t (conditioning)" if i == 0 else None)
        ax.plot(
            track["remaining"],
            lw=1,
            ls="--",
            color=line.get_color(),
            label="actual remaining return" if i == 0 else None,
        )
    ax.set_xlabel("episode timestep t")
    ax.set_ylabel("return (reward units)")
    ax.set_title(
        f"target {default:g}: R̂ (solid) vs actual remaining (dashed), {len(tracks)} episodes",
        fontsize=9,
    )
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    means, stds = np.array([s["mean"] for s in sweep]), np.array([s["std"] for s in sweep])
    ax.errorbar(
        targets,
        means,
        yerr=stds,
        marker="o",
        capsize=3,
        label=f"achieved (mean ± std, {episodes} episodes)",
    )
    lo, hi = min(targets + [0.0]), max(targets)
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="achieved = target")
    ax.axhline(best, color="grey", lw=1, ls=":", label="best return in the dataset")
    ax.set_xlabel("target return R̂_1 (reward units)")
    ax.set_ylabel("achieved return (reward units)")
    ax.set_title("achieved vs target return", fontsize=9)
    ax.legend(fontsize=7)
    _suptitle(fig, run.title("Return-to-go tracking (held-out env seeds from 10000)"))
    tracking_error = [float(np.abs(t["rtg"] - t["remaining"]).mean()) for t in tracks]
    numbers = dict(
        _run_info(run),
        dataset_best_return=best,
        default_target=default,
        sweep=sweep,
        tracks=tracks,
        tracking_error_mean=float(np.mean(tracking_error)),
    )
    return _save(fig, numbers, out, f"rtg-{run.path.name}")


# ---------------------------------------------------------------------------------------------- 7. error


def _action_error(run: Run, predicted, actual) -> np.ndarray:
    """Per-step action error: 1 if the discrete action differs (0 if equal); squared error averaged over the action
    dimensions for continuous actions. predicted / actual (T,) ints or (T, A) floats."""
    predicted, actual = np.asarray(predicted), np.asarray(actual)
    if run.tok.discrete:
        return (predicted != actual).astype(np.float64)
    return ((predicted - actual) ** 2).mean(-1)


@torch.no_grad()
def _dt_open_loop(run: Run, ep: dict, t0: int, H: int) -> dict:
    """DT fed its own predicted actions from step t0 on (states and R̂ from the dataset): action error at t0 + h,
    and, for reference, the error with the dataset's own past actions (teacher forcing)."""
    K, actions = run.cfg.context_len, ep["actions"].copy()
    own, forced = [], []
    for t in range(t0, min(t0 + H, len(ep["rewards"]))):
        sl = slice(max(0, t + 1 - K), t + 1)
        # row 0: own actions, row 1: the dataset's
        both = lambda x: torch.as_tensor(np.stack([x[sl], x[sl]]))
        acts = torch.as_tensor(np.stack([actions[sl], ep["actions"][sl]]))
        preds = run.model(
            both(ep["rtg"]),
            both(ep["states"]),
            acts,
            # (2, A)
            both(np.minimum(ep["timesteps"], run.cfg.max_timestep - 1)),
        )[:, -1]
        a_own, a_forced = preds.argmax(-1).numpy() if run.tok.discrete else preds.numpy()
        actions[t] = a_own  # the model's own action replaces the dataset's in every later context
        own.append(_action_error(run, [a_own], [ep["actions"][t]])[0])
        forced.append(_action_error(run, [a_forced], [ep["actions"][t]])[0])
    return {
        "action error, own actions fed back": own,
        "action error, dataset actions (teacher forcing)": forced,
    }


@torch.no_grad()
def _leap_open_loop(run: Run, ep: dict, t0: int, H: int) -> dict:
    """LEAP's refined plan from the dataset state s_t0 (no later observation): action error of plan step h against
    the dataset's a_{t0+h}; also the plan before refinement (the all-[MASK] fill)."""
    n = min(H, run.cfg.horizon, len(ep["rewards"]) - t0)
    state = torch.as_tensor(ep["states"][t0 : t0 + 1])
    g = torch.Generator().manual_seed(0)
    out = {}
    for name, iterations in (
        ("action error, refined plan", run.cfg.iterations),
        ("action error, initial fill", 0),
    ):
        plan, _ = run.model.plan(state, n, iterations, g)
        A = run.model.tokens_per_step
        tokens = plan[0].view(n, A).numpy()
        predicted = tokens[:, 0] if run.tok.discrete else run.tok.discretizer.decode(tokens)
        out[name] = _action_error(run, predicted, ep["actions"][t0 : t0 + n]).tolist()
    return out


@torch.no_grad()
def _tt_open_loop(run: Run, ep: dict, t0: int, H: int) -> dict:
    """TT imagines H transitions from the dataset's s_t0 alone, every token its own most likely one (greedy; beam
    search would choose actions for reward, not predict the data). Errors against the dataset at step t0 + h: the
    action, the reward (squared error, reward units of the bins' values) and, HalfCheetah, the next state (squared
    error per normalized state dimension; BabyAI states are never predicted)."""
    model, td, d, m = run.model, run.model.transition_dim, run.model.obs_dim, run.model.act_dim
    n = min(H, len(ep["rewards"]) - t0)
    centers = run.tok.discretizer.centers  # (columns, N) the value of each bin
    max_block = context_steps(run) * td - 1
    states = torch.as_tensor(ep["states"][t0 : t0 + 1])[None] if model.discrete else None
    decoder = run.module.FullDecoder(model, max_block, states)
    x = torch.as_tensor(ep["tokens"][t0 : t0 + 1, :d])  # (1, d): the real first state
    for h in range(n):
        for _ in range(m + 2 + (d if h < n - 1 else 0)):  # a, r, V, then the next state's tokens
            if model.discrete and x.shape[1] % td == 0:
                # BabyAI: unseen state
                x = torch.cat([x, torch.full_like(x[:, :1], run.module.UNOBSERVED)], 1)
                continue
            x = torch.cat([x, decoder(x).argmax(-1, keepdim=True)], 1)
    rows = (
        torch.cat([x, torch.zeros(1, n * td - x.shape[1], dtype=torch.long)], 1).view(n, td).numpy()
    )
    out = {}
    if model.discrete:
        predicted = rows[:, d]
        reward_col = 0  # the discretizer's columns are [r, V] for BabyAI
    else:
        # (n, m) values of the action bins
        predicted = centers[np.arange(d, d + m), rows[:, d : d + m]]
        reward_col = d + m
        state_pred = centers[np.arange(d), rows[1:, :d]]  # (n-1, d) imagined s_{t0+1..}
        out["state error (s_t0+h, normalized units²)"] = (
            ((state_pred - ep["states"][t0 + 1 : t0 + n]) ** 2).mean(-1).tolist()
        )
    out["action error"] = _action_error(run, predicted, ep["actions"][t0 : t0 + n]).tolist()
    reward = centers[reward_col, rows[:, d + m]]
    actual = ep["rewards"][t0 : t0 + n].astype(np.float64)
    # TT's reward column holds the penalty at a real termination
    if run.cfg.termination_penalty is not None:
        actual = np.where(ep["terminations"][t0 : t0 + n], run.cfg.termination_penalty, actual)
    out["reward error (reward units²)"] = ((reward - actual) ** 2).tolist()
    return out


OPEN_LOOP = {"dt": _dt_open_loop, "tt": _tt_open_loop, "leap": _leap_open_loop}


def error_horizon(run: Run) -> int:
    """Open-loop steps: LEAP's plans are as long as its trained horizon; DT and TT slide their view along, 16 steps."""
    return run.cfg.horizon if run.algo == "leap" else 16


def error(runs: list[Run], out: Path, max_episodes: int = 32, H: int | None = None) -> list[Path]:
    """Open-loop multi-step prediction error against horizon h, mean and 95% confidence band (mean ± 1.96
    standard errors) over max_episodes dataset episodes drawn at random (seed 0), each started at its first step;
    fewer episodes reach the larger h (the count per h is in the JSON). Left: action error, the one measure all
    three models share; right: TT's errors on the rewards (and states) it imagines."""
    numbers = {"runs": [], "definition": ERROR_DEFINITION}
    fig, axes = _figure(1, 2, width=6.0, height=4.4)
    floor = 1e-3
    for run in runs:
        arrays = run.arrays()
        # the same episodes every run
        order = np.random.default_rng(0).permutation(len(arrays))[:max_episodes]
        horizon_steps = H or error_horizon(run)
        curves: dict[str, list[list[float]]] = {}
        for i in order:
            for name, errors in OPEN_LOOP[run.algo](run, arrays[i], 0, horizon_steps).items():
                curves.setdefault(name, []).append(list(errors))
        result = {}
        for name, lists in curves.items():
            h_max = max(len(e) for e in lists)
            if h_max == 0:
                continue
            values = [
                np.array([e[h] for e in lists if len(e) > h], np.float64) for h in range(h_max)
            ]
            mean = np.array([v.mean() for v in values])
            band = np.array(
                [1.96 * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0 for v in values]
            )
            h = np.arange(1, h_max + 1)
            ax = axes[0, 0] if name.startswith("action") else axes[0, 1]
            style = "--" if "teacher" in name or "initial" in name else "-"
            (line,) = ax.plot(
                h,
                np.maximum(mean, floor),
                style,
                marker="o",
                ms=3,
                label=f"{run.algo.upper()}: {name}",
            )
            ax.fill_between(
                h,
                np.maximum(mean - band, floor),
                np.maximum(mean + band, floor),
                alpha=0.15,
                color=line.get_color(),
            )
            result[name] = {
                "horizon": h,
                "mean": mean,
                "ci95": band,
                "episodes": [len(v) for v in values],
            }
        # a held-out copy when `--data-dir` points elsewhere
        episodes_from = str(data.dataset_path(run.dataset))
        numbers["runs"].append(dict(_run_info(run), episodes_from=episodes_from, curves=result))
    unit = (
        "share of steps whose action differs"
        if runs[0].tok.discrete
        else "squared error per action dim"
    )
    for ax, ylabel, title in (
        (axes[0, 0], f"action error ({unit}; log)", "action vs the dataset's (all models)"),
        (
            axes[0, 1],
            "squared error (units in the legend; log)",
            "TT's imagined rewards and states vs the dataset's",
        ),
    ):
        ax.set_yscale("log")
        ax.set_xlabel("h: the h-th step predicted open loop from the start (timesteps)")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=9)
        if ax.lines:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no TT run given", ha="center", va="center", transform=ax.transAxes)
    _suptitle(
        fig,
        "Open-loop prediction error vs horizon: mean and 95% band over dataset episodes (values below "
        "1e-3 drawn at 1e-3; definitions in error.json and docs/analysis.md)\n" + _runs_line(runs),
    )
    return _save(fig, numbers, out, "error")


ERROR_DEFINITION = {
    "dt": "Start at an episode's first dataset step; at each step t the context holds the dataset's R̂ and states "
    "but DT's own earlier predicted actions (teacher-forcing reference: the dataset's actions). Error of the "
    "predicted a_t vs the dataset's a_t.",
    "tt": "Start from the dataset's first state; TT decodes every later token greedily from its own predictions "
    "(states, actions, rewards, values), no new observation. Errors of the predicted action, next state "
    "(mean squared error in normalized / token units) and reward vs the dataset's.",
    "leap": "Plan once from the dataset state s_0 (iterations from the run's Config) and compare plan step h with the "
    "dataset's a_h; reference: the plan before refinement (all-[MASK] fill).",
    "action error": "discrete actions: 1 if the action differs from the dataset's, else 0 (mean = disagreement "
    "rate); continuous: squared error averaged over action dimensions.",
}


# ---------------------------------------------------------------------------------------------- 8. cost

COST_SWEEPS = {
    "tt": ("beam_width", (1, 2, 4, 8, 16, 32)),
    "leap": ("iterations", (0, 1, 2, 5, 10, 20, 40)),
}


class _DecisionTimer:
    """One env and one agent with fixed options; each call times one real decision (agent.act) and steps the env
    (evaluate.EnvLoop), starting a new episode (seed + 1) when one ends."""

    def __init__(self, run: Run, seed: int = 10_000, **options):
        self.seed, self.env = seed, make_env(run.env)
        self.agent, self.encode = (
            run.module.Agent(run.model, run.tok, **options),
            run.tok.encode_obs,
        )
        self.loop = EnvLoop(self.agent, [self.env], self.seed, self.encode)

    def __call__(self) -> float:
        ms = 1000 * self.loop.step()
        if self.loop.done.all():
            self.seed += 1
            self.loop = EnvLoop(self.agent, [self.env], self.seed, self.encode)
        return ms


def cost(runs: list[Run], out: Path, decisions: int = 8, threads: int = 1) -> list[Path]:
    """Wall-clock ms per decision: DT (one setting), TT against beam width, LEAP against refinement iterations.

    Every setting gets its own env and agent, and the settings take turns, one decision each, `decisions` rounds
    after a warm-up round, so a slow spell of a shared machine hits them all alike. torch runs `threads` threads
    (restored afterwards). One env (batch of one), CPU."""
    settings = []  # (run index, option, value)
    for i, run in enumerate(runs):
        option, values = COST_SWEEPS.get(run.algo, (None, (None,)))
        settings += [(i, option, v) for v in values]
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        timers = [
            _DecisionTimer(runs[i], **({option: v} if option else {})) for i, option, v in settings
        ]
        times = [[] for _ in settings]
        for round_ in range(decisions + 1):
            for j, timer in enumerate(timers):
                ms = timer()
                if round_ > 0:  # round 0 warms up
                    times[j].append(ms)
    finally:
        torch.set_num_threads(old_threads)
    numbers = {
        "runs": [],
        "torch_threads": threads,
        "decisions_per_setting": decisions,
        "device": "cpu",
    }
    dt_lines = []
    for i, run in enumerate(runs):
        entry = dict(_run_info(run))
        rows = []
        for (k, _, v), ms in zip(settings, times):
            if k == i:
                ms = np.array(ms)
                rows.append(
                    {
                        "value": v,
                        "median_ms": float(np.median(ms)),
                        "p25_ms": float(np.percentile(ms, 25)),
                        "p75_ms": float(np.percentile(ms, 75)),
                        "ms": ms,
                    }
                )
        if run.algo in COST_SWEEPS:
            option = COST_SWEEPS[run.algo][0]
            x = np.array([r["value"] for r in rows], float)
            y = np.array([r["median_ms"] for r in rows])
            slope, intercept = np.polyfit(x, y, 1)
            r2 = 1 - ((y - (slope * x + intercept)) ** 2).sum() / max(
                ((y - y.mean()) ** 2).sum(), 1e-12
            )
            entry.update(
                option=option,
                settings=[dict(r, **{option: r.pop("value")}) for r in rows],
                linear_fit={"ms_per_unit": slope, "ms_at_0": intercept, "r2": r2},
            )
        else:
            entry.update({k: v for k, v in rows[0].items() if k != "value"})
            dt_lines.append((run, entry["median_ms"]))
        numbers["runs"].append(entry)
    swept = [(run, e) for run, e in zip(runs, numbers["runs"]) if "option" in e]
    fig, axes = _figure(1, max(1, len(swept)), width=6.0, height=4.2)
    for ax, (run, e) in zip(axes[0], swept or [(None, None)]):
        if e is not None:
            x = [r[e["option"]] for r in e["settings"]]
            y = np.array([r["median_ms"] for r in e["settings"]])
            err = np.array(
                [
                    [r["median_ms"] - r["p25_ms"] for r in e["settings"]],
                    [r["p75_ms"] - r["median_ms"] for r in e["settings"]],
                ]
            )
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=f"{run.label} (median, IQR)")
            fit = e["linear_fit"]
            xs = np.linspace(min(x), max(x), 50)
            ax.plot(
                xs,
                fit["ms_per_unit"] * xs + fit["ms_at_0"],
                "k:",
                lw=1,
                label=f"linear fit: {fit['ms_per_unit']:.2f} ms per unit + {fit['ms_at_0']:.1f} ms, "
                f"R² {fit['r2']:.3f}",
            )
            ax.set_xlabel(
                {"beam_width": "beam width K", "iterations": "refinement iterations"}[e["option"]]
            )
        else:
            ax.set_xlabel("(no TT or LEAP run given)")
        for dt_run, ms in dt_lines:
            ax.axhline(
                ms,
                color="#d62728",
                ls="--",
                lw=1.2,
                label=f"{dt_run.label}: {ms:.2f} ms (constant)",
            )
        ax.set_ylabel("wall-clock per decision (ms)")
        ax.legend(fontsize=7)
    _suptitle(
        fig,
        f"Compute per decision, settings timed in turn in one process (CPU, {threads} torch thread(s), "
        f"{decisions} decisions per setting, one env)\n" + _runs_line(runs),
    )
    return _save(fig, numbers, out, "cost")


# ---------------------------------------------------------------------------------------------- 9. energy (LEAP)


@torch.no_grad()
def held_out_states(run: Run, n_envs: int = 16, steps: int = 4, seed: int = 10_000) -> np.ndarray:
    """States the run's own agent visits from env seeds that the datasets do not use (seed, seed+1, ...), the first
    `steps` decisions of n_envs episodes: (N, S) encoded as tok.encode_obs does."""
    loop = EnvLoop(
        run.module.Agent(run.model, run.tok),
        [make_env(run.env) for _ in range(n_envs)],
        seed,
        run.tok.encode_obs,
    )
    states = []
    for _ in range(steps):
        loop.step()
        states.append(loop.states[loop.live])
        if loop.done.all():
            break
    loop.close()
    return np.concatenate(states)


@torch.no_grad()
def energy(run: Run, out: Path, iterations: int | None = None) -> list[Path]:
    """LEAP: E(τ) of the plan after each refinement iteration, mean and band over held-out states."""
    states = torch.as_tensor(held_out_states(run))
    iterations = iterations if iterations is not None else 3 * run.cfg.iterations
    # (N, iterations+1)
    _, energies = run.model.plan(states, None, iterations, torch.Generator().manual_seed(0))
    e = energies.numpy()
    configured = run.cfg.iterations
    mean, std = e.mean(0), e.std(0)
    ci = 1.96 * e.std(0, ddof=1) / np.sqrt(len(e)) if len(e) > 1 else np.zeros_like(mean)
    fig, axes = _figure(1, 1, width=6.0, height=4.0)
    ax = axes[0, 0]
    x = np.arange(len(mean))
    ax.plot(x, mean, marker="o", ms=3, label=f"mean over {len(e)} held-out states")
    ax.fill_between(x, mean - std, mean + std, alpha=0.15, label="± 1 std")
    ax.fill_between(x, mean - ci, mean + ci, alpha=0.35, label="95% CI of the mean")
    ax.axvline(
        run.cfg.iterations,
        color="k",
        ls=":",
        lw=1,
        label=f"configured iterations ({run.cfg.iterations})",
    )
    ax.set_xlabel("refinement iteration (0 = the plan predicted from all-[MASK])")
    ax.set_ylabel("plan energy E(τ) = −Σ log p(a_i | s, τ₋ᵢ) (nats)")
    ax.legend(fontsize=7)
    _suptitle(
        fig,
        run.title(
            f"Energy minimization (horizon {run.cfg.horizon}, resample '{run.cfg.resample}')"
        ),
    )
    numbers = dict(
        _run_info(run),
        states=len(e),
        iterations=iterations,
        mean=mean,
        std=std,
        ci95=ci,
        median=np.median(e, 0),
        drop=float(mean[0] - mean[-1]),
        configured_iterations=run.cfg.iterations,
        share_of_states_lower_at_configured=float(
            (e[:, min(configured, iterations)] < e[:, 0]).mean()
        ),
        share_of_states_lower_at_end=float((e[:, -1] < e[:, 0]).mean()),
    )
    return _save(fig, numbers, out, f"energy-{run.path.name}")


# ---------------------------------------------------------------------------------------------- learning curve


def curve(runs: list[Run], out: Path) -> list[Path]:
    """Learning curves from each run's metrics.jsonl: training loss against step; evaluation score (normalized
    score or success %) against step and against training minutes, where the run logged evaluations."""
    numbers = {"runs": []}
    fig, axes = _figure(1, 3, width=4.2, height=3.6)
    for run in runs:
        path = run.path / "metrics.jsonl"
        rows = (
            [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            if path.exists()
            else []
        )
        score_key = "success_rate" if run.tok.discrete else "normalized_score"
        scale = 100.0 if score_key == "success_rate" else 1.0
        evals = [r for r in rows if r.get(score_key) is not None]
        label = f"{run.algo.upper()} · {run.path.name}"
        step, loss = [r["step"] for r in rows], [r["loss"] for r in rows]
        steps, minutes = [r["step"] for r in evals], [r["train_seconds"] / 60 for r in evals]
        scores = [scale * r[score_key] for r in evals]
        axes[0, 0].plot(step, loss, label=label)
        axes[0, 1].plot(steps, scores, marker="o", ms=3, label=label)
        axes[0, 2].plot(minutes, scores, marker="o", ms=3, label=label)
        numbers["runs"].append(
            dict(
                _run_info(run),
                score=score_key,
                step=step,
                loss=loss,
                eval_step=steps,
                eval_minutes=minutes,
                eval_score=scores,
            )
        )
    metric = (
        "success rate (%)" if runs[0].tok.discrete else "normalized score (0 random, 100 expert)"
    )
    for ax, xlabel, ylabel, title in (
        (axes[0, 0], "gradient step", "training loss (log)", "loss"),
        (axes[0, 1], "gradient step", metric, "evaluation score vs step"),
        (axes[0, 2], "training time (minutes, this CPU)", metric, "evaluation score vs time"),
    ):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=9)
        if ax.lines:
            ax.legend(fontsize=7)
    axes[0, 0].set_yscale("log")
    if not any(r["eval_step"] for r in numbers["runs"]):
        for ax in axes[0, 1:]:
            ax.text(
                0.5,
                0.5,
                "no evaluations logged\n(train with --eval-every N)",
                ha="center",
                va="center",
                transform=ax.transAxes,
            )
    _suptitle(
        fig,
        "Learning curve (evaluations: the periodic `--eval-every` rollouts, env seeds from 10000)\n"
        + _runs_line(runs),
    )
    return _save(fig, numbers, out, "curve")


# ---------------------------------------------------------------------------------------------- the command

PER_RUN = {
    "attention": attention,
    "attention-by-type": attention_by_type,
    "entropy": entropy,
    "rtg": rtg,
    "energy": energy,
}
ALL_RUNS = {"horizon": horizon, "sparsity": sparsity, "error": error, "cost": cost, "curve": curve}
CAPTIONS = {
    "attention": "Attention (mean over heads) on a real dataset window, one panel per layer; strips mark token types.",
    "attention-by-type": "Where each decision's attention goes over an episode: by token type and by step age.",
    "horizon": "Attention mass of the decision query against the timestep distance to the key, per layer.",
    "entropy": "Mean attention entropy per head and layer; dashed: the uniform entropy log n.",
    "sparsity": "Share of keys holding 90% of the attention, and the Gini coefficient, per model.",
    "rtg": "DT's R̂ against the actual remaining return, and achieved vs target return.",
    "error": "Open-loop prediction error against horizon (log scale); each model's measure is in error.json.",
    "cost": "Milliseconds per decision against beam width (TT) and refinement iterations (LEAP); DT's constant.",
    "energy": "LEAP's plan energy against refinement iteration, over held-out states.",
    "curve": "Training loss against step; evaluation score against step and training minutes (metrics.jsonl).",
}


def run(kind: str, runs: list[str], out: Path) -> list[Path]:
    """`minirl analyze KIND RUN...`: runs one analysis (or `all`) and returns the files written (PNG, JSON, index)."""
    if kind != "all" and kind not in KINDS:
        raise ValueError(f"unknown analysis '{kind}'; valid: {', '.join(KINDS)}, all")
    if not runs:
        raise ValueError("give at least one run directory")
    out = Path(out)
    loaded = [load(r) for r in runs]
    if kind != "all":
        for r in loaded:
            if r.algo not in APPLIES[kind]:
                raise ValueError(
                    f"analysis '{kind}' applies to {'/'.join(APPLIES[kind])} runs; "
                    f"'{r.path}' is a {r.algo} run"
                )
        return _one(kind, loaded, out)
    # the baselines have only a learning curve
    usable = [r for r in loaded if r.algo in SEQUENCE_MODELS]
    if not usable:
        raise ValueError(
            f"no analysis applies to these runs (they are {', '.join(r.algo for r in loaded)} runs; "
            f"the analyses read {'/'.join(SEQUENCE_MODELS)} runs)"
        )
    written, sections = [], []
    for k in KINDS:
        chosen = [r for r in usable if r.algo in APPLIES[k]]
        if chosen:
            paths = _one(k, chosen, out)
            written += paths
            figures = "\n\n".join(
                f"![{k}: {p.stem}]({p.name})  \nnumbers: [{p.stem}.json]({p.stem}.json)"
                for p in paths
                if p.suffix == ".png"
            )
            sections.append(f"## {k}\n\n{CAPTIONS[k]}\n\n{figures}\n")
    index = out / "index.md"
    header = "# minirl analyses\n\nRuns: " + ", ".join(
        f"`{r.path}` ({r.algo} on {r.dataset}, step {r.state.get('step')})" for r in usable
    )
    index.write_text(
        header
        + "\n\nMade by `minirl analyze all "
        + " ".join(str(r.path) for r in usable)
        + f" --out {out}`.\n\n"
        + "\n".join(sections)
    )
    return written + [index]


def _one(kind: str, runs: list[Run], out: Path) -> list[Path]:
    if kind in PER_RUN:
        return [p for r in runs for p in PER_RUN[kind](r, out)]
    return ALL_RUNS[kind](runs, out)
