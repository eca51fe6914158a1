"""What every analysis shares: a loaded run, attention captured on a window of its dataset, figures and files.

The attention comes from the models themselves: the shared Transformer keeps each layer's last attention map while
`capture_attention()` is on (minirl/transformer.py), and each model's `token_layout` says which token is which; the
three small functions below only feed each model a window of real dataset steps the way its forward takes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from minirl import data
from minirl.analysis.metrics import as_numpy
from minirl.runs import load_run
from minirl.transformer import TokenLayout

SEQUENCE_MODELS = ("dt", "tt", "leap")
MODEL_NAMES = {"dt": "Decision Transformer", "tt": "Trajectory Transformer", "leap": "LEAP"}

# ---------------------------------------------------------------------------------------------- runs


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


def context_steps(run: Run) -> int:
    """How many steps a model holds in view when it acts."""
    if run.algo == "tt":  # the transitions TT's planner keeps in view (at most its training window)
        return min(run.module.EvalOptions().max_context_transitions, int(run.cfg.seq_len))
    # DT: K steps; LEAP: its plan's steps
    return int(run.cfg.context_len if run.algo == "dt" else run.cfg.horizon)


# ---------------------------------------------------------------------------------------------- windows


@dataclass
class Window:
    """Attention captured on one window of real steps.

    maps: L arrays (H, T, T) (query rows, key columns); allowed (T, T) keys each query could see; steps (T,)
    timestep of each token; types (T,) token type names; decisions: the rows whose outputs give each step's action
    (in step order)."""

    maps: list[np.ndarray]
    allowed: np.ndarray
    steps: np.ndarray
    types: np.ndarray
    decisions: np.ndarray

    @property
    def causal(self) -> bool:
        """No query could see a later token."""
        return not np.triu(self.allowed, 1).any()


@torch.no_grad()
def captured(model, layout: TokenLayout, start: int, *inputs, **kwargs) -> Window:
    """Runs the model's own forward once on `inputs` (a batch of one window starting at step `start`, laid out as
    `layout` says) with its Transformer keeping the attention, and reads the maps and the mask back."""
    transformer = model.transformer
    transformer.capture_attention()
    try:
        model(*inputs, **kwargs)
        maps = [as_numpy(m[0]) for m in transformer.attention_maps()]
        allowed = transformer.attention_mask()[0, 0].cpu().numpy()
    finally:
        transformer.capture_attention(False)
    return Window(
        maps,
        allowed,
        start + np.asarray(layout.steps),
        np.array(layout.types),
        np.asarray(layout.reads),
    )


def _dt_capture(run: Run, ep: dict, start: int, end: int) -> Window:
    """DT: steps [start, end) fed as in training (absolute timesteps, the dataset's R̂)."""
    sl = slice(start, end)
    timesteps = np.minimum(ep["timesteps"][sl], run.cfg.max_timestep - 1)
    inputs = [
        torch.as_tensor(x)[None]
        for x in (ep["rtg"][sl], ep["states"][sl], ep["actions"][sl], timesteps)
    ]
    return captured(run.model, run.model.token_layout(end - start), start, *inputs)


def _tt_capture(run: Run, ep: dict, start: int, end: int, upto_state: bool = False) -> Window:
    """TT: transitions [start, end), the final V dropped as in training (with upto_state the last transition stops
    after its state, as when the planner decides a_{end-1}). BabyAI: the observations go in as `states`."""
    model, td, d = run.model, run.model.transition_dim, run.model.obs_dim
    n = end - start
    tokens = torch.as_tensor(ep["tokens"][start:end]).reshape(1, n * td)
    tokens = tokens[:, : (n - 1) * td + d] if upto_state else tokens[:, :-1]
    states = torch.as_tensor(ep["states"][start:end])[None] if model.discrete else None
    return captured(model, model.token_layout(tokens.shape[1]), start, tokens, states=states)


def _leap_capture(run: Run, ep: dict, start: int, end: int) -> Window:
    """LEAP: s_start and the dataset's actions a_start .. a_{end-1} as the plan (at most `horizon` steps), the first
    step's tokens [MASK]ed: the decision being made, as in a refinement step of planning."""
    n, A = min(end, len(ep["rewards"]), start + run.cfg.horizon) - start, run.model.tokens_per_step
    actions = ep["actions"][start : start + n]
    # (n, A)
    tokens = actions.reshape(n, 1) if run.tok.discrete else run.tok.discretizer.encode(actions)
    # a copy: as_tensor would share the dataset's int64 actions, and the [MASK] below would overwrite them
    plan = torch.tensor(tokens.reshape(1, n * A), dtype=torch.long)
    plan[0, :A] = run.model.mask_id
    state = torch.as_tensor(ep["states"][start : start + 1])
    return captured(run.model, run.model.token_layout(plan[0]), start, state, plan)


CAPTURE = {"dt": _dt_capture, "tt": _tt_capture, "leap": _leap_capture}


def capture(run: Run, episode: dict, start: int, end: int) -> Window:
    """Attention of `run`'s model on steps [start, end) of one episode (tokenizer arrays), real tokens only."""
    return CAPTURE[run.algo](run, episode, start, end)


def decision_view(run: Run, episode: dict, t: int) -> tuple[Window, int]:
    """What the model attends to when it decides a_t: (window, row of the decision query in it).

    DT and TT see the last steps in view up to s_t (TT: stopping after s_t's tokens), the decision query is the
    newest; LEAP sees s_t and the plan that follows, its query is a_t's (first, [MASK]ed) token."""
    if run.algo == "leap":
        w = capture(run, episode, t, t + run.cfg.horizon)
        return w, int(w.decisions[0])
    first = max(0, t + 1 - context_steps(run))
    w = (
        _tt_capture(run, episode, first, t + 1, upto_state=True)
        if run.algo == "tt"
        else capture(run, episode, first, t + 1)
    )
    return w, int(w.decisions[-1])


def windows_for(run: Run, max_windows: int = 32) -> list[Window]:
    """Up to max_windows windows of min(K, length) steps from the start of the longest episodes (deterministic)."""
    arrays = run.arrays()
    K = context_steps(run)
    order = sorted(range(len(arrays)), key=lambda i: (-len(arrays[i]["rewards"]), i))[:max_windows]
    return [capture(run, arrays[i], 0, min(K, len(arrays[i]["rewards"]))) for i in order]


def decision_views(
    run: Run, max_episodes: int = 8, max_steps: int = 100
) -> list[tuple[Window, int]]:
    """decision_view at every step (up to max_steps) of the max_episodes longest dataset episodes."""
    arrays = run.arrays()
    order = sorted(range(len(arrays)), key=lambda i: (-len(arrays[i]["rewards"]), i))[:max_episodes]
    return [
        decision_view(run, arrays[i], t)
        for i in order
        for t in range(min(max_steps, len(arrays[i]["rewards"])))
    ]


# ---------------------------------------------------------------------------------------------- figures and files


def figure(nrows: int = 1, ncols: int = 1, width: float = 4.5, height: float = 3.8, **kwargs):
    """A matplotlib Figure drawn with the Agg canvas (no pyplot state, no display needed) and its axes grid."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


def suptitle(fig, text: str) -> None:
    """The figure's title, each line wrapped to the figure's width."""
    import textwrap

    width = int(fig.get_figwidth() * 13)
    fig.suptitle("\n".join(textwrap.fill(line, width) for line in text.split("\n")), fontsize=10)


def runs_line(runs: list[Run]) -> str:
    return " · ".join(
        f"{MODEL_NAMES.get(r.algo, r.algo)} on {r.dataset}, run {r.path.name}" for r in runs
    )


def save(fig, numbers: dict, out: Path, stem: str) -> list[Path]:
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


def run_info(run: Run) -> dict:
    return {
        "run": str(run.path),
        "algo": run.algo,
        "dataset": run.dataset,
        "env": run.env,
        "train_step": run.state.get("step"),
    }
