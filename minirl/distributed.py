"""More than one process: every torch.distributed call minirl's training loop makes, in one place (issue 18).

`torchrun --standalone --nproc_per_node N --no-python minirl train ...` (or `minirl train --nproc N`, which starts
the same thing through torchrun's own Python API, `launch` below) runs N copies of the training loop, one process
each, numbered by their rank 0 … N-1. They talk through torch.distributed: Gloo between CPU processes, NCCL between
GPUs. One training step, on every rank:

1. sample its own shard of the batch, batch_size / N windows, from its own generator (seeded seed + rank · 2³²);
2. compute the loss of that shard and its gradient (`loss.backward()`);
3. `average_gradients`: one all-reduce sums every parameter's gradient (and the loss) over the ranks; divided by
   N it is the gradient of the mean of the N shards' losses, the same on every rank (the whole batch's mean loss
   when each shard's loss is a plain mean; DT's, a mean over real steps, weighs a shard's steps by its own count);
4. take the same clipped AdamW step from the same weights, so the ranks never drift apart and no weights are ever
   sent again. Target networks (CQL, IQL) follow weights that are equal everywhere, so they stay equal too.

The batch of the whole run is therefore batch_size, as in one process. Rank 0 alone shows the progress bar and
writes metrics and checkpoints; a checkpoint holds every rank's random-number state (`gather`), so `--resume`
continues a distributed run exactly, with the same number of processes.

This is what PyTorch's DistributedDataParallel does, minus its overlap of the all-reduce with the backward pass;
minirl makes the call itself because its models are trained through `model.loss(batch)`, which DDP's wrapper (it
hooks `forward`) does not see, and because one call after backward() is easy to read. In a plain single process
(no torchrun) every function here but `launch` returns at once and changes nothing.
"""

from __future__ import annotations

import contextlib
import os
import uuid

import torch
import torch.distributed as dist


def rank() -> int:
    """This process's number, 0 … world_size() - 1 (0 in a plain process)."""
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    """How many processes train together (1 in a plain process)."""
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    """Rank 0: the one process that prints, logs and writes files."""
    return rank() == 0


def start(device: torch.device) -> torch.device:
    """Joins the process group that torchrun describes in the environment (RANK, WORLD_SIZE, MASTER_ADDR, …):
    NCCL for cuda, Gloo for cpu. Returns the device this rank trains on (cuda: the GPU numbered LOCAL_RANK).
    In a plain process (no WORLD_SIZE) it does nothing and returns `device`."""
    if int(os.environ.get("WORLD_SIZE", "1")) == 1 or dist.is_initialized():
        return device
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"distributed training runs on cpu or cuda, not {device.type}")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def stop() -> None:
    """Leaves the process group (if this process joined one)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def _device() -> torch.device:
    """Where collective tensors live: NCCL only moves GPU tensors, Gloo CPU ones."""
    return torch.device("cuda") if dist.get_backend() == "nccl" else torch.device("cpu")


def average_gradients(model: torch.nn.Module, loss: torch.Tensor) -> torch.Tensor:
    """After loss.backward() on every rank: replaces each parameter's gradient by its mean over the ranks, and
    returns the loss averaged over the ranks (detached). One all-reduce of one flat buffer.

    Parameters without a gradient (frozen target networks, unused weights) are left alone; which ones they are
    is the same on every rank, since it follows from the model, not the data."""
    if world_size() == 1:
        return loss.detach()
    params = [p for p in model.parameters() if p.grad is not None]
    # (all gradient entries + 1,): every gradient flattened, the loss last
    flat = torch.cat([p.grad.reshape(-1) for p in params] + [loss.detach().float().reshape(1)])
    dist.all_reduce(flat)  # sum over ranks
    flat /= world_size()
    for p, grad in zip(params, flat[:-1].split([p.numel() for p in params])):
        p.grad.copy_(grad.view_as(p))
    return flat[-1]


def broadcast_weights(model: torch.nn.Module) -> None:
    """Every rank starts from rank 0's parameters and buffers (as DDP does when it wraps a model)."""
    if world_size() == 1:
        return
    for tensor in model.state_dict().values():
        dist.broadcast(tensor, src=0)


def agree(flag: bool) -> bool:
    """Rank 0's `flag` on every rank (e.g. "the time budget is spent"), so all ranks stop at the same step."""
    if world_size() == 1:
        return flag
    decision = torch.tensor([float(flag)], device=_device())
    dist.broadcast(decision, src=0)
    return bool(decision.item())


def gather(obj) -> list:
    """[obj of rank 0, obj of rank 1, …] on every rank (any picklable value: random-number states)."""
    if world_size() == 1:
        return [obj]
    objects = [None] * world_size()
    dist.all_gather_object(objects, obj)
    return objects


@contextlib.contextmanager
def main_first():
    """Rank 0 runs the block first (e.g. builds a missing dataset) while the others wait; then they run it."""
    if world_size() > 1 and not is_main():
        dist.barrier()
    yield
    if world_size() > 1 and is_main():
        dist.barrier()


def launch(nproc: int, fn, **kwargs) -> None:
    """fn(**kwargs) in `nproc` new processes joined as one process group: what `torchrun --standalone
    --nproc_per_node nproc` does, through its Python API. Returns when all have finished. If one fails, torchrun
    stops the others and this raises LaunchError with the first failure's one-line message (run torchrun itself
    to see its whole log)."""
    import logging

    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=str(uuid.uuid4()),
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",  # a free port, as --standalone
        max_restarts=0,
    )
    # torchrun's own log (its start-up lines, a failed process's traceback) stays out of the way
    loggers = [logging.getLogger(name) for name in ("torch.distributed", "torch.multiprocessing")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        elastic_launch(config, _call)(fn, kwargs)
    except ChildFailedError as e:
        failed_rank, failure = e.get_first_failure()
        message = failure.message
        if isinstance(message, dict):  # the error file that torchrun's @record writes
            message = message.get("message", "")
        raise LaunchError(f"training process {failed_rank} failed: {message}") from None
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


class LaunchError(RuntimeError):
    """A process started by `launch` failed; the message is one line."""


def _call(fn, kwargs: dict):
    """What each launched process runs (a module-level function, so it can be sent to a new process)."""
    return fn(**kwargs)
