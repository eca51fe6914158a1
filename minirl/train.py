"""The one training loop every model shares (DT, TT, LEAP and the offline baselines).

AdamW (weight decay on weight matrices only), linear warmup then constant or cosine learning rate, gradient-norm
clipping, a rich progress bar with loss and throughput, metrics appended to `metrics.jsonl`, and atomic checkpoints
in `runs/<name>/` (written to a temporary file, then renamed, so a crash never leaves half a checkpoint). A
checkpoint holds the model, the optimizer, the step and every random-number state, so `--resume` continues a killed
run to exactly the numbers an uninterrupted run reaches on the same machine.

Every algorithm module (`minirl.dt`, `minirl.tt`, `minirl.leap`, `minirl.baselines.{bc,cql,iql}`) provides:
    Config                                    dataclass: the paper's hyperparameters, training ones included
    make_tokenizer(episodes, spec, cfg)       -> Tokenizer fitted on the training episodes
    prepare(episodes, tok, cfg)               -> whatever sample_batch needs (arrays, computed once)
    sample_batch(data, cfg, rng)              -> dict of tensors (one training batch)
    Model(cfg, tok)                           nn.Module with .loss(batch) -> scalar tensor (optional .after_step())
    Agent(model, tok, **options)              .reset(n), .act(states) -> actions, .observe(rewards), .trace
    EVAL_OPTIONS                              the eval options the agent takes, with defaults
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
import random
import time
from pathlib import Path

import numpy as np
import torch

from minirl.envs import UnknownNameError, get_spec
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


class RunError(RuntimeError):
    """A problem with a run directory or checkpoint; the message is one line a user can act on."""


def algo_module(name: str):
    if name not in ALGOS:
        raise UnknownNameError(f"unknown algorithm '{name}'; valid: {', '.join(ALGOS)} (sac: `minirl baseline sac`)")
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


def seed_everything(seed: int) -> np.random.Generator:
    random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """Weight decay on matrices (Linear weights) only; biases, LayerNorms and embeddings are not decayed."""
    decay, no_decay = [], []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            (decay if isinstance(module, torch.nn.Linear) and name == "weight" else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr)


def lr_factor(step: int, warmup: int, total: int, schedule: str) -> float:
    """Multiplier on the base lr: linear warmup over `warmup` steps, then constant or cosine decay to 10%."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "cosine":
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
    return 1.0


def atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def fit(model, sample, cfg, run_dir: Path, meta: dict, seed: int = 0, resume: bool = False,
        device: torch.device = torch.device("cpu"), budget_minutes: float | None = None,
        progress: bool = True, log_every: int | None = None, ckpt_every: int | None = None,
        eval_fn=None, eval_every: int = 0) -> dict:
    """Trains `model` for cfg.steps updates on batches from `sample(rng)`; returns the final metrics row.

    meta: what the checkpoint records besides weights (algo, dataset, env, config, tokenizer).
    Stops early (with a checkpoint) when budget_minutes run out; KeyboardInterrupt also checkpoints, then re-raises.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path, metrics_path = run_dir / "checkpoint.pt", run_dir / "metrics.jsonl"
    rng = seed_everything(seed)
    model.to(device)
    opt = make_optimizer(model, cfg.lr, cfg.weight_decay)
    step, elapsed = 0, 0.0
    if resume:
        state = load_checkpoint(run_dir)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, elapsed = state["step"], state.get("train_seconds", 0.0)
        rng.bit_generator.state = state["rng"]["numpy"]
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(state["rng"]["python"])
        _truncate_metrics(metrics_path, step)  # rows written after the checkpoint will be written again
    elif metrics_path.exists():
        metrics_path.unlink()

    def checkpoint(finished: bool):
        state = dict(meta, version=CHECKPOINT_VERSION, model=model.state_dict(), optimizer=opt.state_dict(),
                     step=step, finished=finished, train_seconds=elapsed,
                     rng={"numpy": rng.bit_generator.state, "torch": torch.get_rng_state(),
                          "python": random.getstate()})
        atomic_save(state, ckpt_path)

    log_every = log_every or max(1, cfg.steps // 100)
    ckpt_every = ckpt_every or max(1, cfg.steps // 10)
    deadline = time.time() + 60 * budget_minutes if budget_minutes else None
    row: dict = {}
    bar = _progress(progress)
    task = bar.add_task(f"train {meta['algo']}", total=cfg.steps, completed=step, loss=float("nan"), sps=0.0)
    model.train()
    window_start, window_steps = time.time(), 0
    try:
        with bar:
            while step < cfg.steps:
                t0 = time.time()
                for group in opt.param_groups:
                    group["lr"] = cfg.lr * lr_factor(step, cfg.warmup_steps, cfg.steps, cfg.lr_schedule)
                batch = {k: v.to(device) for k, v in sample(rng).items()}
                loss = model.loss(batch)
                if not torch.isfinite(loss):
                    raise RunError(f"loss became {loss.item()} at step {step}; last good checkpoint kept in {run_dir}")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                if hasattr(model, "after_step"):
                    model.after_step()
                step += 1
                elapsed += time.time() - t0
                window_steps += 1
                last = step == cfg.steps or bool(deadline and time.time() > deadline)  # the run's final step
                evaluate = bool(eval_fn and eval_every and (step % eval_every == 0 or last))
                if step % log_every == 0 or last or evaluate:
                    sps = window_steps * cfg.batch_size / max(1e-9, time.time() - window_start)
                    row = {"step": step, "loss": loss.item(), "lr": opt.param_groups[0]["lr"],
                           "samples_per_s": sps, "train_seconds": elapsed}
                    if evaluate:
                        model.eval()
                        row.update(eval_fn(model))
                        model.train()
                    with open(metrics_path, "a") as f:
                        f.write(json.dumps(row) + "\n")
                    bar.update(task, completed=step, loss=row["loss"], sps=sps)
                    window_start, window_steps = time.time(), 0
                if step % ckpt_every == 0 and step < cfg.steps:
                    checkpoint(False)
                if last:
                    break
    except KeyboardInterrupt:
        checkpoint(False)
        raise
    checkpoint(True)  # finished: all steps done, or the time budget spent
    model.eval()
    return dict(row, step=step)


def _truncate_metrics(path: Path, step: int) -> None:
    if path.exists():
        rows = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
        atomic_write_text(path, "".join(r + "\n" for r in rows))


def _progress(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("loss {task.fields[loss]:.4f}"), TextColumn("{task.fields[sps]:.0f} samples/s"),
                    TimeRemainingColumn(), disable=not enabled, transient=False)


# ---------------------------------------------------------------------------------------------- runs on disk


def load_checkpoint(run_dir: str | Path) -> dict:
    run_dir = Path(run_dir)
    path = run_dir / "checkpoint.pt"
    if not run_dir.is_dir():
        raise RunError(f"no run directory at '{run_dir}'")
    if not path.exists():
        raise RunError(f"run '{run_dir}' has no checkpoint.pt (was training started?)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001  (any unpickling failure means the same thing to the user)
        raise RunError(f"checkpoint '{path}' is corrupt or unreadable ({type(e).__name__})") from None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION or "model" not in state:
        raise RunError(f"checkpoint '{path}' is not a minirl checkpoint of version {CHECKPOINT_VERSION}")
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
        raise RunError(f"checkpoint in '{run_dir}' does not match a {state['algo']} model with its saved config "
                       "(was it written by another version or for another env?)") from None
    return module, cfg, tok, model.to(resolve_device(device)).eval(), state


def make_config(module, overrides: dict | None = None, env: str | None = None):
    """The algorithm's Config with per-env defaults (if the module has ENV_DEFAULTS) and user overrides."""
    values = {}
    if env is not None and hasattr(module, "env_defaults"):
        values.update(module.env_defaults(get_spec(env)))
    values.update(overrides or {})
    known = {f.name for f in dataclasses.fields(module.Config)}
    bad = set(values) - known
    if bad:
        raise ValueError(f"unknown config field(s) {sorted(bad)} for {module.__name__}; valid: {sorted(known)}")
    cfg = module.Config(**values)
    for name in ("steps", "batch_size"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"{name} must be a positive integer, got {getattr(cfg, name)}")
    return cfg


def run_training(algo: str, dataset: str, steps: int | None = None, seed: int = 0, out: str | Path | None = None,
                 resume: bool = False, device: str = "auto", budget_minutes: float | None = None,
                 overrides: dict | None = None, progress: bool = True, eval_every: int = 0,
                 eval_episodes: int = 5) -> Path:
    """`minirl train ALGO --dataset NAME`: load (or build) the dataset, fit the tokenizer, train, checkpoint."""
    from minirl import data

    module = algo_module(algo)
    env = data.env_of(dataset)
    overrides = dict(overrides or {})
    if steps is not None:
        overrides["steps"] = steps
    run_dir = Path(out) if out else Path("runs") / f"{algo}-{dataset.replace('/', '_')}-s{seed}"
    if resume:
        state = load_checkpoint(run_dir)
        if state["algo"] != algo or state["dataset"] != dataset:
            raise RunError(f"'{run_dir}' holds a {state['algo']} run on {state['dataset']}, not {algo} on {dataset}")
        cfg = make_config(module, dict(state["config"], **({"steps": steps} if steps else {})))
        tok = Tokenizer.from_state_dict(state["tokenizer"])
        seed = state["seed"]
    elif (run_dir / "checkpoint.pt").exists():
        raise RunError(f"'{run_dir}' already holds a run; pass --resume to continue it or --out for a new directory")
    else:
        cfg = make_config(module, overrides, env)
        tok = None
    dev = resolve_device(device)
    episodes = data.ensure(dataset, progress=progress)
    if tok is None:
        tok = module.make_tokenizer(episodes, get_spec(env), cfg)
    prepared = module.prepare(episodes, tok, cfg)
    torch.manual_seed(seed)  # initial weights depend on --seed only, not on what ran before in this process
    model = module.Model(cfg, tok)
    meta = {"algo": algo, "dataset": dataset, "env": env, "seed": seed, "config": dataclasses.asdict(cfg),
            "tokenizer": tok.state_dict()}
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.json", json.dumps({k: v for k, v in meta.items() if k != "tokenizer"},
                                                          indent=2))
    eval_fn = None
    if eval_every:
        from minirl.evaluate import rollout

        def eval_fn(m):
            result = rollout(module, m, tok, env, episodes=eval_episodes, seed=10_000, progress=False)
            return {k: result[k] for k in ("return_mean", "normalized_score", "success_rate") if k in result}

    fit(model, lambda rng: module.sample_batch(prepared, cfg, rng), cfg, run_dir, meta, seed=seed, resume=resume,
        device=dev, budget_minutes=budget_minutes, progress=progress, eval_fn=eval_fn, eval_every=eval_every)
    return run_dir
