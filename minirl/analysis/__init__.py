"""Looking inside trained models (the source's section 7): `minirl analyze KIND RUN [RUN ...] --out DIR`.

Every analysis reads real things only: the attention maps the shared transformer keeps while capture is on
(`Transformer.capture_attention`), read through each model's own forward and `token_layout` on windows of the
run's own dataset; the agents' traces from real rollouts; wall-clock timings. Each writes a PNG and a JSON of the
numbers behind it. This file is the command; each analysis lives in its own file:

    attention.py   attention, attention-by-type, horizon, entropy, sparsity (the attention maps)
    errors.py      error: open-loop prediction error against horizon (each model's measure: ERROR_DEFINITION)
    timing.py      cost: milliseconds per decision vs beam width (TT) and refinement iterations (LEAP), DT's as a line
    rtg.py         rtg (DT): R̂ against the actual remaining return, and achieved vs target return
    energy.py      energy (LEAP): plan energy against refinement iteration over held-out start states
    curve.py       curve: loss, and the `train --eval-every` scores, against step and training minutes (any algorithm)
    metrics.py     the pure functions on attention maps (entropy, share90, Gini, distance mass; lesson 07)
    common.py      what they share: loading a run, capturing a window's attention, figures and files

`all` runs every analysis that applies to the given runs and writes an index.md that embeds the figures.
"""

from __future__ import annotations

from pathlib import Path

from minirl.analysis.attention import attention, attention_by_type, entropy, horizon, sparsity
from minirl.analysis.common import SEQUENCE_MODELS, Run, load
from minirl.analysis.curve import curve
from minirl.analysis.energy import energy
from minirl.analysis.errors import error
from minirl.analysis.rtg import rtg
from minirl.analysis.timing import cost

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
APPLIES = (
    {kind: SEQUENCE_MODELS for kind in KINDS}
    | {"rtg": ("dt",), "energy": ("leap",)}
    | {"curve": SEQUENCE_MODELS + ("bc", "cql", "iql")}
)
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
