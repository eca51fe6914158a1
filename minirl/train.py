"""The one training loop every model shares (DT, TT, LEAP and the offline baselines).

AdamW (weight decay on weight matrices only), linear warmup then constant or cosine learning rate, gradient-norm
clipping, a progress bar (loss, samples/s, time left: minirl/display.py), metrics appended to `metrics.jsonl`, and
atomic checkpoints in `runs/<name>/` (written to a temporary file, then renamed, so a crash never leaves half a
checkpoint). A checkpoint holds the model, the optimizer, the step and every random-number state, so `--resume`
continues a killed run to exactly the numbers an uninterrupted run reaches on the same machine.

More than one process (torchrun, `minirl train --nproc N`): the same loop; its torch.distributed calls are in
minirl/distributed.py, whose docstring tells the whole story.

What an algorithm module provides (Config, make_tokenizer, prepare, sample_batch, Model, Agent, EvalOptions and the
optional hooks) is written down once, in `minirl.runs.Algorithm`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import random
import time
from pathlib import Path

import numpy as np
import torch

from minirl import data, distributed, validate
from minirl.display import TrainBar, closing_line, print_line
from minirl.envs import get_spec
from minirl.evaluate import rollout
from minirl.runs import (
    CHECKPOINT_VERSION,
    RunError,
    algo_module,
    atomic_save,
    atomic_write_text,
    check_out_folder,
    hook,
    load_checkpoint,
    metrics_rows,
    resolve_device,
    state_step,
    truncate_metrics,
)
from minirl.tokenizer import Tokenizer


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
            (
                decay if isinstance(module, torch.nn.Linear) and name == "weight" else no_decay
            ).append(p)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr)


def lr_factor(step: int, warmup: int, total: int, schedule: str) -> float:
    """Multiplier on the base lr: linear warmup over `warmup` steps, then constant or cosine decay to 10%."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "cosine":
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
    return 1.0


def train_step(
    model, batch: dict, opt: torch.optim.Optimizer, cfg, precision: str = "fp32"
) -> torch.Tensor:
    """One update of every model: the loss on `batch`, its gradient (averaged over the processes of a distributed
    run, so all of them take the same step: minirl/distributed.py), the gradient norm clipped to cfg.grad_clip, one
    AdamW step, then the model's after_step hook (the target networks' Polyak average, where there are any).
    precision "bf16": the loss is computed under bfloat16 autocast; weights, gradients and AdamW stay float32.
    Returns the loss (detached); a loss that is NaN or infinite is returned before any weight changes."""
    device_type = next(model.parameters()).device.type
    with torch.autocast(device_type, torch.bfloat16, enabled=precision == "bf16"):
        loss = model.loss(batch)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    loss = distributed.average_gradients(model, loss)
    if not torch.isfinite(loss):
        return loss
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    opt.step()
    hook(model, "after_step")()
    return loss


def fit(
    model,
    sample,
    cfg,
    run_dir: Path,
    meta: dict,
    seed: int = 0,
    resume: bool = False,
    device: torch.device = torch.device("cpu"),
    budget_minutes: float | None = None,
    progress: bool = True,
    log_every: int | None = None,
    ckpt_every: int | None = None,
    eval_fn=None,
    eval_every: int = 0,
    clock=time.monotonic,
    precision: str = "fp32",
) -> dict:
    """Trains `model` for cfg.steps updates on batches from `sample(rng)`; returns the final metrics row.

    meta: what the checkpoint records besides weights (algo, dataset, env, config, tokenizer).
    Stops early (with a checkpoint) when budget_minutes run out; KeyboardInterrupt also checkpoints, then re-raises.
    progress: the bar (minirl.display.TrainBar) and its closing line, which says whether the steps or the budget
    ended the run. clock: seconds for the budget and the bar (a test passes its own to make the budget exact).

    Distributed (minirl/distributed.py): every rank runs fit, `sample` drawing its own shard of the batch; rank r's
    random numbers are seeded seed + r·2³² (rank 0's are a single process's). Rank 0 alone shows the bar and writes
    metrics and checkpoints, which hold every rank's random-number state; the budget stops every rank at rank 0's
    step. Ctrl-C keeps the last periodic checkpoint there (writing one needs every rank).
    """
    rank, world = distributed.rank(), distributed.world_size()
    main = rank == 0
    progress = progress and main
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path, metrics_path = run_dir / "checkpoint.pt", run_dir / "metrics.jsonl"
    rng = seed_everything(seed + rank * 2**32)
    model.to(device)
    opt = make_optimizer(model, cfg.lr, cfg.weight_decay)
    step, elapsed = 0, 0.0
    if resume:
        state = load_checkpoint(run_dir)
        if state.get("world_size", 1) != world:
            raise RunError(
                f"'{run_dir}' was trained by {state.get('world_size', 1)} process(es), not {world}; "
                "resume it with as many (--nproc)"
            )
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, elapsed = state["step"], state.get("train_seconds", 0.0)
        saved = state["rng"][rank] if world > 1 else state["rng"]  # one state per rank
        rng.bit_generator.state = saved["numpy"]
        torch.set_rng_state(saved["torch"])
        random.setstate(saved["python"])
        # rows written after the checkpoint will be written again
        if main:
            truncate_metrics(metrics_path, step)
    elif main and metrics_path.exists():
        metrics_path.unlink()
    distributed.broadcast_weights(model)

    def checkpoint(finished: bool):
        rngs = distributed.gather(
            {
                "numpy": rng.bit_generator.state,
                "torch": torch.get_rng_state(),
                "python": random.getstate(),
            }
        )
        if not main:
            return
        state = dict(
            meta,
            version=CHECKPOINT_VERSION,
            model=model.state_dict(),
            optimizer=opt.state_dict(),
            step=step,
            finished=finished,
            train_seconds=elapsed,
            world_size=world,
            rng=rngs if world > 1 else rngs[0],
        )
        atomic_save(state, ckpt_path)

    log_every = log_every or max(1, cfg.steps // 100)
    ckpt_every = ckpt_every or max(1, cfg.steps // 10)
    started = clock()
    deadline = started + 60 * budget_minutes if budget_minutes else None
    row: dict = {}
    start_step = step
    bar = TrainBar(
        f"train {meta['algo']}", cfg.steps, cfg.batch_size, step, deadline, clock, progress
    )
    model.train()
    window_start, window_steps = time.time(), 0
    try:
        with bar:
            while step < cfg.steps:
                t0 = clock()
                for group in opt.param_groups:
                    group["lr"] = cfg.lr * lr_factor(
                        step, cfg.warmup_steps, cfg.steps, cfg.lr_schedule
                    )
                batch = to_device(sample(rng), device)
                loss = train_step(model, batch, opt, cfg, precision)
                if not torch.isfinite(loss):
                    kept = (
                        f"the last good checkpoint (step {state_step(ckpt_path)}) is kept in {run_dir}"
                        if ckpt_path.exists()
                        else "no checkpoint was written"
                    )
                    raise RunError(f"loss became {loss.item()} at step {step}; {kept}")
                step += 1
                elapsed += clock() - t0
                window_steps += 1
                bar.update(step, loss)
                # the run's final step: all steps done, or the budget spent (rank 0's clock decides)
                out_of_time = deadline is not None and distributed.agree(clock() >= deadline)
                last = step == cfg.steps or out_of_time
                evaluate = bool(eval_fn and eval_every and (step % eval_every == 0 or last))
                if main and (step % log_every == 0 or last or evaluate):
                    sps = window_steps * cfg.batch_size / max(1e-9, time.time() - window_start)
                    row = {
                        "step": step,
                        "loss": loss.item(),
                        "lr": opt.param_groups[0]["lr"],
                        "samples_per_s": sps,
                        "train_seconds": elapsed,
                    }
                    if evaluate:
                        model.eval()
                        row.update(eval_fn(model))
                        model.train()
                    with open(metrics_path, "a") as f:
                        f.write(json.dumps(row) + "\n")
                    window_start, window_steps = time.time(), 0
                if step % ckpt_every == 0 and step < cfg.steps:
                    checkpoint(False)
                if last:
                    break
    except KeyboardInterrupt:
        if world == 1:
            checkpoint(False)
        raise
    checkpoint(True)  # finished: all steps done, or the time budget spent
    print_line(
        closing_line(step, cfg.steps, clock() - started, ckpt_path, budget_minutes, start_step),
        progress,
    )
    model.eval()
    return dict(row, step=step)


def to_device(batch: dict, device: torch.device) -> dict:
    """A batch's tensors on `device`. Batches of `train` are gathered there already (`on_device`), so this moves
    nothing; it is for a `sample` that builds its batches elsewhere."""
    return {k: v.to(device) for k, v in batch.items()}


def on_device(prepared, device: torch.device):
    """A module's `prepare` output (dicts of tensors, numpy arrays and numbers) with every tensor on `device`, moved
    once before training; numpy arrays, the sampler's bookkeeping for its random draws, stay on the host. Refuses
    data that cannot fit on a GPU, in one line."""

    def tensors(x) -> list[torch.Tensor]:
        if isinstance(x, dict):
            return [t for v in x.values() for t in tensors(v)]
        return [x] if isinstance(x, torch.Tensor) else []

    def move(x):
        if isinstance(x, dict):
            return {k: move(v) for k, v in x.items()}
        return x.to(device) if isinstance(x, torch.Tensor) else x

    need, free = sum(t.numel() * t.element_size() for t in tensors(prepared)), _free_memory(device)
    if device.type != "cpu" and free is not None and need > 0.8 * free:
        raise RunError(
            f"the dataset needs {need / 2**30:.1f} GiB on {device}, more than the "
            f"{free / 2**30:.1f} GiB free there; train on the CPU (--device cpu)"
        )
    return move(prepared)


def deterministic_cuda() -> None:
    """The torch.backends settings that make CUDA runs repeat bit for bit where PyTorch allows: no cuDNN autotuning,
    deterministic cuDNN and cuBLAS kernels, no TF32 (fp32 matmuls stay fp32). Where PyTorch has no deterministic
    kernel (e.g. the CUDA backward of index_add_ and scatter_add_, atomics), it warns and runs the fast one, so a
    GPU run may differ from a rerun in the last bits; CPU runs always repeat."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.use_deterministic_algorithms(True, warn_only=True)


# ---------------------------------------------------------------------------------------------- checks before training


def make_config(
    module, overrides: dict | None = None, env: str | None = None, label: str = "--set "
):
    """The algorithm's Config with its per-env defaults (the env_defaults hook) and user overrides, which are
    checked against the Config's declared types and ranges (minirl/validate.py; strings such as "3e-4" are
    converted): a bad or unknown field raises validate.BadValue naming `{label}key=value`."""
    values = {}
    if env is not None:
        values.update(hook(module, "env_defaults")(get_spec(env)))
    values.update(
        validate.config_values(
            module.Config, overrides or {}, module.__name__.split(".")[-1], label
        )
    )
    return module.Config(**values)


def check_weights_fit(module, cfg, tok, device: torch.device) -> None:
    """Refuses a model whose weights, gradients and AdamW moments (4 copies) cannot fit in the memory free on
    `device`, counting its parameters on torch's "meta" device (no memory is allocated)."""
    free = _free_memory(device)
    try:
        with torch.random.fork_rng(devices=[]), torch.device("meta"):
            weights = sum(p.numel() * p.element_size() for p in module.Model(cfg, tok).parameters())
    except Exception:  # noqa: BLE001  (a model that cannot be built on "meta" is checked once it is built)
        return
    if free is not None and 4 * weights > 0.8 * free:
        raise RunError(
            f"this config's model has {weights / 4 / 1e9:.2g} billion parameters: with gradients and "
            f"AdamW it needs {4 * weights / 2**30:.1f} GiB, more than the {free / 2**30:.1f} GiB free on "
            f"{device}; choose a smaller model"
        )


def check_memory(module, model, prepared, cfg, device: torch.device) -> None:
    """Refuses a batch that cannot fit, before training starts: measures the bytes one forward pass keeps for the
    backward pass on batches of 2 and 4, extrapolates linearly to cfg.batch_size (plus weights, gradients and
    AdamW's two moments), and compares with the memory free on `device`. Uses its own random numbers."""
    free = _free_memory(device)
    if free is None:
        return
    saved = []

    def measure(batch_size: int) -> int:
        saved.clear()
        small = dataclasses.replace(cfg, batch_size=batch_size)
        batch = to_device(module.sample_batch(prepared, small, np.random.default_rng(0)), device)
        with torch.autograd.graph.saved_tensors_hooks(
            lambda t: saved.append(t.numel() * t.element_size()) or t, lambda t: t
        ):
            model.loss(batch)
        return sum(saved)

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        two, four = measure(2), measure(4)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    need = two + (four - two) / 2 * (cfg.batch_size - 2) + 4 * weights
    if need > 0.8 * free:
        raise RunError(
            f"batch_size {cfg.batch_size} needs about {need / 2**30:.1f} GiB per training step "
            f"(measured on batches of 2 and 4), more than the {free / 2**30:.1f} GiB free on {device}; "
            "choose a smaller batch_size"
        )


def _free_memory(device: torch.device) -> int | None:
    """Bytes free on `device` (CPU: MemAvailable), or None where it cannot be read."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type == "cpu":
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        with contextlib.suppress(ValueError, OSError, AttributeError):
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return None


# episodes per periodic evaluation (--eval-every) unless --eval-episodes says otherwise
EVAL_EPISODES = 5


def eval_settings(
    module, algo: str, eval_set: dict | None, episodes: int | None, kept: dict | None = None
) -> dict:
    """The periodic evaluation's settings, {"episodes": E, "options": every EvalOptions field}.

    eval_set: `--eval-set name=value` pairs as typed, converted and range-checked against module.EvalOptions as
    `minirl eval --set` checks them (validate.config_values). kept: a resumed run's own settings (None: the run
    has none); they stay, and different ones are refused, so one curve is made with one setting."""
    options = validate.config_values(module.EvalOptions, eval_set or {}, algo, "--eval-set ")
    wanted = {
        "episodes": episodes or EVAL_EPISODES,
        "options": dataclasses.asdict(module.EvalOptions(**options)),
    }
    if kept is None:
        return wanted
    wanted = {
        "episodes": kept["episodes"] if episodes is None else wanted["episodes"],
        "options": kept["options"] if eval_set is None else wanted["options"],
    }
    if wanted != kept:
        old = dict(kept["options"], episodes=kept["episodes"])
        new = dict(wanted["options"], episodes=wanted["episodes"])
        changed = ", ".join(f"{k}={old[k]}" for k in old if old[k] != new.get(k))
        raise RunError(
            f"this run evaluates with {changed}; --resume keeps a run's --eval-set and "
            "--eval-episodes (leave them out, or give the same)"
        )
    return kept


def run_training(
    algo: str,
    dataset: str,
    steps: int | None = None,
    seed: int = 0,
    out: str | Path | None = None,
    resume: bool = False,
    device: str = "auto",
    budget_minutes: float | None = None,
    overrides: dict | None = None,
    progress: bool = True,
    eval_every: int = 0,
    eval_episodes: int | None = None,
    eval_set: dict | None = None,
    overwrite: bool = False,
    nproc: int = 1,
    precision: str = "fp32",
) -> Path:
    """`minirl train ALGO --dataset NAME`: load (or build) the dataset, fit the tokenizer, train, checkpoint.

    `out` must be missing, empty, or a minirl run folder; resume continues its checkpoint, overwrite starts again
    there (deleting minirl's own files in it, never other files).
    nproc > 1: this same call in nproc processes trained as one run (what torchrun does; minirl/distributed.py);
    under torchrun each process joins the group itself. precision: "fp32" or "bf16" (autocast, see train_step).
    eval_every > 0: every that many steps (and at the last), `eval_episodes` episodes (default EVAL_EPISODES) with
    the algorithm's EvalOptions changed by `eval_set` ({"beam_width": "8"}), scored into metrics.jsonl; the
    settings are written to config.json ("eval") and kept by a resumed run (see eval_settings)."""
    module = algo_module(algo)
    if resume and overwrite:
        raise ValueError(
            "give --resume (continue the run) or --overwrite (start it again), not both"
        )
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"unknown precision '{precision}'; valid: fp32, bf16")
    if eval_set is not None and not eval_every:
        raise ValueError("--eval-set changes the periodic evaluation: give --eval-every N too")
    run_dir = Path(out) if out else Path("runs") / f"{algo}-{dataset.replace('/', '_')}-s{seed}"
    if nproc > 1:
        if "WORLD_SIZE" in os.environ:
            raise ValueError("--nproc starts torchrun itself; under torchrun, leave it out")
        distributed.launch(
            nproc,
            run_training,
            algo=algo,
            dataset=dataset,
            steps=steps,
            seed=seed,
            out=run_dir,
            resume=resume,
            device=device,
            budget_minutes=budget_minutes,
            overrides=overrides,
            progress=progress,
            eval_every=eval_every,
            eval_episodes=eval_episodes,
            eval_set=eval_set,
            overwrite=overwrite,
            precision=precision,
        )
        return run_dir
    dev = distributed.start(resolve_device(device))  # joins torchrun's process group, if any
    if dev.type == "cuda":
        deterministic_cuda()
    main, world = distributed.is_main(), distributed.world_size()
    progress = progress and main
    env = data.env_of(dataset)
    if resume:
        state = load_checkpoint(run_dir)
        if state["algo"] != algo or state["dataset"] != dataset:
            raise RunError(
                f"'{run_dir}' holds a {state['algo']} run on {state['dataset']}, not {algo} on {dataset}"
            )
        known = {f.name for f in dataclasses.fields(module.Config)}
        cfg = module.Config(**{k: v for k, v in state["config"].items() if k in known})
        if steps:
            cfg = dataclasses.replace(
                cfg, **validate.config_values(module.Config, {"steps": steps}, algo)
            )
        tok = Tokenizer.from_state_dict(state["tokenizer"])
        seed = state["seed"]
        # a damaged log fails now, before anything is written
        metrics_rows(run_dir / "metrics.jsonl", state["step"])
        kept = state.get("eval")
        evaluation = eval_settings(module, algo, eval_set, eval_episodes, kept)
        if not eval_every:
            evaluation = kept  # carried on: a later --resume --eval-every evaluates as before
    else:
        cfg = make_config(module, overrides, env)
        # --steps wins over the config's (and a --set steps=N), once that has been checked
        if steps is not None:
            cfg = dataclasses.replace(
                cfg, **validate.config_values(module.Config, {"steps": steps}, algo)
            )
        evaluation = eval_settings(module, algo, eval_set, eval_episodes) if eval_every else None
        if main:
            check_out_folder(run_dir, overwrite)
        tok = None
    if cfg.batch_size % world:
        raise RunError(f"batch_size {cfg.batch_size} does not split evenly over {world} processes")
    # what each process samples and holds: batch_size / world windows (the whole run's batch stays batch_size)
    shard = dataclasses.replace(cfg, batch_size=cfg.batch_size // world)
    with distributed.main_first():  # a missing dataset is built once, by rank 0
        episodes = data.ensure(dataset, progress=progress)
    if tok is None:
        tok = module.make_tokenizer(episodes, get_spec(env), cfg)
    # the dataset crosses to the device once; every batch is gathered there (no per-step copy of the batch)
    prepared = on_device(module.prepare(episodes, tok, cfg), dev)
    check_weights_fit(module, cfg, tok, dev)
    # initial weights depend on --seed only, not on what ran before in this process
    torch.manual_seed(seed)
    model = module.Model(cfg, tok)
    check_memory(module, model.to(dev), prepared, shard, dev)
    meta = {
        "algo": algo,
        "dataset": dataset,
        "env": env,
        "seed": seed,
        "config": dataclasses.asdict(cfg),
        "tokenizer": tok.state_dict(),
    }
    if evaluation is not None:
        meta["eval"] = evaluation  # the periodic evaluation's episodes and EvalOptions
    run_dir.mkdir(parents=True, exist_ok=True)
    if main:
        atomic_write_text(
            run_dir / "config.json",
            json.dumps({k: v for k, v in meta.items() if k != "tokenizer"}, indent=2),
        )
    eval_fn = None
    if eval_every:

        def eval_fn(m):
            result = rollout(
                module,
                m,
                tok,
                env,
                episodes=evaluation["episodes"],
                seed=10_000,
                progress=False,
                **evaluation["options"],
            )
            return {
                k: result[k]
                for k in ("return_mean", "normalized_score", "success_rate")
                if k in result
            }

    fit(
        model,
        lambda rng: module.sample_batch(prepared, shard, rng),
        cfg,
        run_dir,
        meta,
        seed=seed,
        resume=resume,
        device=dev,
        budget_minutes=budget_minutes,
        progress=progress,
        eval_fn=eval_fn,
        eval_every=eval_every,
        precision=precision,
    )
    return run_dir
