"""Runs on disk: which algorithms exist, what an algorithm module provides, and how a run is stored.

A run directory (`runs/<name>/`) holds `config.json`, `checkpoint.pt`, `metrics.jsonl` and, after `minirl eval`,
`eval.json`. This module writes them atomically (temporary file, then rename), reads checkpoints back with
`torch.load(weights_only=True)` (tensors and plain values only, so a planted file cannot run code) and rebuilds a
run's model (`load_run`). train.py, evaluate.py, compare.py, analysis/, hf.py and the CLI import it; it imports
no other minirl module but `envs` and `tokenizer`, so nothing imports in a circle.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import pickle
import re
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from minirl.envs import UnknownNameError
from minirl.tokenizer import Tokenizer

ALGOS = {
    "dt": "minirl.dt",
    "tt": "minirl.tt",
    "leap": "minirl.leap",
    "bc": "minirl.baselines.bc",
    "cql": "minirl.baselines.cql",
    "iql": "minirl.baselines.iql",
}
CHECKPOINT_VERSION = 1
# what minirl writes in a run folder
RUN_FILES = ("checkpoint.pt", "config.json", "metrics.jsonl", "eval.json")
# all a checkpoint may hold, in dicts, lists and tuples
PLAIN = (torch.Tensor, str, int, float, bool, type(None))


class Algorithm(Protocol):
    """What an algorithm module (`minirl.dt`, `minirl.tt`, `minirl.leap`, `minirl.baselines.{bc,cql,iql}`) provides:
    train.py, evaluate.py, compare.py and analysis/ use these names and nothing else.

        Config                                dataclass: the paper's hyperparameters, training ones included
        make_tokenizer(episodes, spec, cfg)   -> Tokenizer fitted on the training episodes
        prepare(episodes, tok, cfg)           -> whatever sample_batch needs, computed once: tensors (train.on_device
                                              moves them to the training device) and numpy bookkeeping for the draws
        sample_batch(data, cfg, rng)          -> dict of tensors (one training batch), drawn with the numpy `rng`
                                              and gathered on the data's device
        Model(cfg, tok)                       nn.Module with .loss(batch) -> scalar tensor
        EvalOptions                           dataclass: what `minirl eval` may change (its flags and --set), each
                                              field documented, with its default (empty for BC, CQL and IQL)
        Agent(model, tok, **options)          options: EvalOptions fields; .reset(n), .act(states) -> actions,
                                              .observe(rewards, done), .trace

    Optional hooks, read through `hook(module_or_model, name)`, which supplies the defaults in OPTIONAL:
        env_defaults(spec) -> dict            Config fields that differ per environment (default: none)
        default_sweep(spec) -> dict | None    {option: [values]} that `minirl eval` tries when none is given
        Model.after_step()                    called after every optimizer step (target networks' Polyak update)
    """

    Config: type
    Model: type
    Agent: type
    EvalOptions: type

    def make_tokenizer(self, episodes: list[dict], spec, cfg) -> Tokenizer: ...

    def prepare(self, episodes: list[dict], tok: Tokenizer, cfg) -> Any: ...

    def sample_batch(self, data: Any, cfg, rng: np.random.Generator) -> dict[str, torch.Tensor]: ...


def _no_env_defaults(spec) -> dict:
    return {}


def _no_sweep(spec) -> None:
    return None


def _nothing_after_step() -> None:
    return None


OPTIONAL = {
    "env_defaults": _no_env_defaults,
    "default_sweep": _no_sweep,
    "after_step": _nothing_after_step,
}


def hook(owner, name: str):
    """The optional hook `name` of an algorithm module or model (see Algorithm), or its do-nothing default."""
    return getattr(owner, name, OPTIONAL[name])


class RunError(RuntimeError):
    """A problem with a run directory or checkpoint; the message is one line a user can act on."""


def algo_module(name: str) -> Algorithm:
    """The module of algorithm `name` (a key of ALGOS), imported on first use."""
    if name not in ALGOS:
        raise UnknownNameError(
            f"unknown algorithm '{name}'; valid: {', '.join(ALGOS)} (sac: `minirl baseline sac`)"
        )
    return importlib.import_module(ALGOS[name])


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device '{device}'; valid: auto, cpu, cuda, mps")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available")
    return torch.device(device)


def atomic_save(obj, path: Path) -> None:
    """torch.save through a temporary file; only tensors and plain values (so `torch.load(weights_only=True)`,
    which runs no code, reads everything back)."""
    _check_plain(obj, path.name)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _check_plain(obj, where: str) -> None:
    if isinstance(obj, dict):
        for key, value in obj.items():
            _check_plain(key, where)
            _check_plain(value, f"{where}[{key!r}]")
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            _check_plain(value, f"{where}[{i}]")
    elif not isinstance(obj, PLAIN):
        raise TypeError(
            f"{where} is a {type(obj).__name__}; a checkpoint holds only tensors and plain values"
        )


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def truncate_metrics(path: Path, step: int) -> None:
    """Keeps the rows up to `step` (see metrics_rows)."""
    if path.exists():
        atomic_write_text(path, "".join(r + "\n" for r in metrics_rows(path, step)))


def metrics_rows(path: Path, step: int) -> list[str]:
    """The lines of metrics.jsonl up to `step`. A torn last line (the process was killed while writing it) is
    dropped: its step comes after the checkpoint and is written again; any other line that is not a JSON row with
    a step is a RunError naming the file and line."""
    if not path.exists():
        return []
    lines = path.read_text(errors="replace").splitlines()
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                break
            raise RunError(
                f"{path} line {number} is not a JSON row; repair or delete that file, then resume"
            ) from None
        if not isinstance(row, dict) or not isinstance(row.get("step"), int):
            raise RunError(
                f"{path} line {number} has no step; repair or delete that file, then resume"
            )
        if row["step"] <= step:
            rows.append(line)
    return rows


def load_checkpoint(run_dir: str | Path) -> dict:
    """The checkpoint of a run, read with `weights_only=True`: tensors and plain values only, so a planted
    checkpoint cannot run code; one that holds anything else is refused (RunError), and so is a corrupt one."""
    run_dir = Path(run_dir)
    path = run_dir / "checkpoint.pt"
    if not run_dir.is_dir():
        raise RunError(f"no run directory at '{run_dir}'")
    if not path.exists():
        raise RunError(f"run '{run_dir}' has no checkpoint.pt (was training started?)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL (\S+)", str(e))
        if found:
            raise RunError(
                f"checkpoint '{path}' holds Python objects ({found.group(1)}), not only tensors and plain "
                "values; refused, nothing in it was run"
            ) from None
        raise RunError(f"checkpoint '{path}' is corrupt or unreadable (UnpicklingError)") from None
    except Exception as e:  # noqa: BLE001  (any other failure to read means the same thing to the user)
        raise RunError(
            f"checkpoint '{path}' is corrupt or unreadable ({type(e).__name__})"
        ) from None
    if (
        not isinstance(state, dict)
        or state.get("version") != CHECKPOINT_VERSION
        or "model" not in state
    ):
        raise RunError(
            f"checkpoint '{path}' is not a minirl checkpoint of version {CHECKPOINT_VERSION}"
        )
    return state


def load_run(run_dir: str | Path, device: str = "cpu"):
    """-> (algo module, cfg, tokenizer, model in eval mode, checkpoint dict) for a run directory."""
    state = load_checkpoint(run_dir)
    module = algo_module(state["algo"])
    known = {f.name for f in dataclasses.fields(module.Config)}
    cfg = module.Config(**{k: v for k, v in state["config"].items() if k in known})
    tok = Tokenizer.from_state_dict(state["tokenizer"])
    model = module.Model(cfg, tok)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError:
        raise RunError(
            f"checkpoint in '{run_dir}' does not match a {state['algo']} model with its saved config "
            "(was it written by another version or for another env?)"
        ) from None
    return module, cfg, tok, model.to(resolve_device(device)).eval(), state


def state_step(ckpt_path: Path) -> int | str:
    try:
        return torch.load(ckpt_path, map_location="cpu", weights_only=True)["step"]
    except Exception:  # noqa: BLE001  (only used to word a message)
        return "?"


def check_out_folder(run_dir: Path, overwrite: bool) -> None:
    """A new run goes into a missing or empty folder, or one that holds only minirl's run files (a run killed
    before its first checkpoint); an existing run or other files need --overwrite, which deletes minirl's own
    files there (RUN_FILES) and never anything else."""
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise RunError(f"--out '{run_dir}' is a file, not a folder")
    if (run_dir / "checkpoint.pt").exists() and not overwrite:
        raise RunError(
            f"'{run_dir}' already holds a run; pass --resume to continue it, --overwrite to start it "
            "again, or --out for a new directory"
        )
    foreign = sorted(
        p.name for p in run_dir.iterdir() if p.name.removesuffix(".tmp") not in RUN_FILES
    )
    if foreign and not overwrite:
        raise RunError(
            f"--out '{run_dir}' holds files that are not a minirl run ({', '.join(foreign[:3])}"
            f"{', …' if len(foreign) > 3 else ''}); choose an empty folder, or pass --overwrite to write "
            "the run next to them"
        )
    # this run's files replace the old ones; eval.json of another run must not stay
    for name in RUN_FILES:
        for path in (run_dir / name, run_dir / f"{name}.tmp"):
            path.unlink(missing_ok=True)
