"""Data-parallel training with `DistributedDataParallel`, as processes on one CPU.

`train_ddp` spawns `world_size` processes that join a gloo process group and train the same
`MLP` with SGD, each on its own shard of every batch. After each step every process gathers
the weights of all the others, so the result says whether they stayed identical; the weights
of every step come back to the caller, to be compared with `train_single`, the same steps on
the full batches in one process. The workers live here, not in a notebook, because the
"spawn" start method pickles the function it starts, and a notebook's functions cannot be
pickled by reference.
"""

from __future__ import annotations

import datetime
import os
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.nn.utils import parameters_to_vector

from nnbook._checks import positive_int
from nnbook.models import MLP

__all__ = ["DDPRun", "ddp_worker", "free_port", "shard", "train_ddp", "train_single"]


@dataclass(frozen=True)
class DDPRun:
    """What the processes of a `train_ddp` run returned.

    `weights[r]` is rank r's (steps + 1, n_params) flattened weights, before the first step
    and after each; `max_gap[r]` the largest difference rank r saw between its weights and
    any other rank's after each step (all_gather), one value per step.
    """

    world_size: int
    weights: list[torch.Tensor]
    max_gap: list[list[float]]
    seconds: float


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now: the OS picks it for a bound socket."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def shard(X: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """Rank `rank`'s contiguous share of a batch whose length `world_size` divides."""
    if len(X) % world_size:
        raise ValueError(f"a batch of {len(X)} cannot be split evenly into {world_size} shards")
    size = len(X) // world_size
    return X[rank * size : (rank + 1) * size]


def _batches(X: torch.Tensor, batch_size: int, steps: int) -> list[slice]:
    if steps * batch_size > len(X):
        raise ValueError(f"{steps} steps of {batch_size} need {steps * batch_size} points")
    return [slice(i * batch_size, (i + 1) * batch_size) for i in range(steps)]


def _model(init_state: dict[str, torch.Tensor], hidden: int) -> MLP:
    model = MLP(2, hidden, 3)
    model.load_state_dict(init_state)
    return model


def train_single(
    X: torch.Tensor,
    y: torch.Tensor,
    init_state: dict[str, torch.Tensor],
    *,
    batch_size: int,
    steps: int,
    lr: float = 0.1,
    hidden: int = 8,
) -> torch.Tensor:
    """Weights before and after each SGD step on the full batches: (steps + 1, n_params)."""
    model = _model(init_state, hidden)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()  # the mean over the batch, as DDP's averaged gradients
    weights = [parameters_to_vector(model.parameters()).detach().clone()]
    for batch in _batches(X, batch_size, steps):
        optimizer.zero_grad()
        loss_fn(model(X[batch]), y[batch]).backward()
        optimizer.step()
        weights.append(parameters_to_vector(model.parameters()).detach().clone())
    return torch.stack(weights)


def ddp_worker(
    rank: int, world_size: int, port: int, folder: str, data: dict, options: dict
) -> None:
    """One process of `train_ddp`: join the group, train on its shards, save what it saw."""
    log = os.open(Path(folder) / f"rank{rank}.log", os.O_WRONLY | os.O_CREAT)
    os.dup2(log, 1)  # keep gloo's and torch's messages out of the caller's output
    os.dup2(log, 2)
    torch.set_num_threads(1)  # the processes share the machine's cores
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    timeout = datetime.timedelta(seconds=options["timeout"])
    dist.init_process_group("gloo", rank=rank, world_size=world_size, timeout=timeout)
    try:
        X, y = data["X"], data["y"]
        model = DistributedDataParallel(_model(data["init_state"], options["hidden"]))
        optimizer = torch.optim.SGD(model.parameters(), lr=options["lr"])
        loss_fn = nn.CrossEntropyLoss()
        weights = [parameters_to_vector(model.parameters()).detach().clone()]
        gaps = []
        for batch in _batches(X, options["batch_size"], options["steps"]):
            X_shard, y_shard = shard(X[batch], rank, world_size), shard(y[batch], rank, world_size)
            optimizer.zero_grad()
            loss_fn(model(X_shard), y_shard).backward()  # DDP averages all ranks' gradients
            optimizer.step()
            flat = parameters_to_vector(model.parameters()).detach().clone()
            everyone = [torch.empty_like(flat) for _ in range(world_size)]
            dist.all_gather(everyone, flat)
            gaps.append(max(float((other - flat).abs().max()) for other in everyone))
            weights.append(flat)
        torch.save({"weights": torch.stack(weights), "gaps": gaps}, Path(folder) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _wait(context: mp.ProcessContext, deadline: float, folder: str) -> None:
    """Join the processes until `deadline`; on timeout or failure, stop them all and raise."""
    try:
        while not context.join(timeout=max(0.1, deadline - time.monotonic())):
            if time.monotonic() > deadline:
                raise TimeoutError("the DDP processes did not finish in time")
    except BaseException as error:
        for process in context.processes:
            if process.is_alive():
                process.terminate()
                process.join()
        logs = "\n".join(p.read_text() for p in sorted(Path(folder).glob("rank*.log")))
        raise RuntimeError(f"train_ddp failed: {error}\nworker output:\n{logs}") from error


def train_ddp(
    X: torch.Tensor,
    y: torch.Tensor,
    init_state: dict[str, torch.Tensor],
    *,
    batch_size: int,
    steps: int,
    lr: float = 0.1,
    hidden: int = 8,
    world_size: int = 2,
    timeout: float = 60.0,
) -> DDPRun:
    """Train `steps` SGD steps with DDP on `world_size` CPU processes (gloo); their weights.

    Each rank takes its contiguous shard of every batch of `batch_size` points (`shard`).
    Raises RuntimeError (with the workers' output) if a process fails or `timeout` seconds
    pass; every process leaves its group with `destroy_process_group`.
    """
    positive_int("world_size", world_size)
    positive_int("steps", steps)
    positive_int("batch_size", batch_size)
    if batch_size % world_size:
        raise ValueError(f"batch_size {batch_size} must be a multiple of world_size {world_size}")
    _batches(X, batch_size, steps)  # checks that the data hold the steps, before spawning
    options = dict(batch_size=batch_size, steps=steps, lr=lr, hidden=hidden, timeout=timeout)
    data = {"X": X, "y": y, "init_state": init_state}
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        context = mp.start_processes(
            ddp_worker,
            args=(world_size, free_port(), folder, data, options),
            nprocs=world_size,
            join=False,
            start_method="spawn",
        )
        _wait(context, start + timeout, folder)
        results = [torch.load(Path(folder) / f"rank{r}.pt") for r in range(world_size)]
    return DDPRun(
        world_size,
        [r["weights"] for r in results],
        [r["gaps"] for r in results],
        time.monotonic() - start,
    )
