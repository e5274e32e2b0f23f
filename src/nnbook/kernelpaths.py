"""The recipe's first epochs run once per CPU kernel path of this machine, in subprocesses.

ATen, PyTorch's tensor library, compiles its CPU kernels several times, for several
instruction sets, and picks one set at start-up from the CPU; the environment variable
`ATEN_CPU_CAPABILITY` makes it pick a lower one (`default` is portable code, `avx2` and
`avx512` are x86's vector paths). The kernels of different paths round the same sums in
different orders. Since the choice is made once per process, `compare` starts one Python
process per path; each trains the same networks from the same data and seed with the
same code (`python -m nnbook.kernelpaths`) and reports its final weights.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from dataclasses import replace

import pandas as pd
import torch

from nnbook.data import ThreeClassProblem
from nnbook.devices import describe_arithmetic
from nnbook.recipe import Recipe

__all__ = [
    "compare",
]

# The recipe's own SGD, and two ways of training that are not chaotic: a five times
# smaller SGD step, and Adam, whose step size does not grow with the gradient.
OPTIMIZERS = {
    "SGD, lr 0.005 (the recipe)": lambda params: torch.optim.SGD(params, lr=0.005),
    "SGD, lr 0.001": lambda params: torch.optim.SGD(params, lr=0.001),
    "Adam, lr 0.01": lambda params: torch.optim.Adam(params, lr=0.01),
}


def candidate_paths() -> list[str | None]:
    """The ATEN_CPU_CAPABILITY values worth trying here; None runs what the CPU selects.

    On x86 that is `default` and the vector paths; `compare` keeps one run per path that
    ATen actually uses, so paths the CPU lacks drop out. The list does not depend on this
    process's own ATEN_CPU_CAPABILITY.
    """
    if platform.machine().lower() in ("x86_64", "amd64", "x86", "i686"):
        return ["default", "avx2", "avx512"]
    return ["default", None]


def train_on_this_path(epochs: int) -> dict[str, object]:
    """Train the recipe's network `epochs` epochs with each optimizer, on this process's path."""
    recipe = replace(Recipe(), epochs=epochs)
    problem = ThreeClassProblem()
    results: dict[str, object] = {"arithmetic": describe_arithmetic()}
    for name, make_optimizer in OPTIMIZERS.items():
        data, model = recipe.start(problem)
        train_loader, _ = recipe.loaders(data)
        optimizer = make_optimizer(model.parameters())
        for _ in range(epochs):
            for X, y in train_loader:
                loss = recipe.loss_fn()(model(X), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        weights = torch.cat([p.detach().flatten() for p in model.parameters()])
        results[name] = weights.tolist()
    return results


def compare(epochs: int = 100, paths: list[str | None] | None = None) -> pd.DataFrame:
    """Run `train_on_this_path` under each path at once, one process each; one row per run.

    Columns: `path` (the value given; None for the CPU's own choice), `capability` (what
    ATen reports it used), `optimizer`, and `weights` (a float32 tensor of all the
    network's parameters). Paths that run as the same capability appear once.
    """
    paths = candidate_paths() if paths is None else list(paths)
    if not paths:
        raise ValueError("compare needs at least one ATEN_CPU_CAPABILITY value, got none")
    command = [sys.executable, "-m", "nnbook.kernelpaths", "--epochs", str(epochs)]
    processes = {}
    for path in paths:
        env = {k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"}
        env["OMP_NUM_THREADS"] = "1"
        if path is not None:
            env["ATEN_CPU_CAPABILITY"] = path
        processes[path] = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    rows, seen = [], set()
    for path, process in processes.items():
        out, err = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"the run with ATEN_CPU_CAPABILITY={path} failed:\n{err}")
        result = json.loads(out)
        capability = result.pop("arithmetic")["aten_capability"]
        if capability in seen:
            continue
        seen.add(capability)
        for name, weights in result.items():
            rows.append(
                {
                    "path": path,
                    "capability": capability,
                    "optimizer": name,
                    "weights": torch.tensor(weights, dtype=torch.float32),
                }
            )
    return pd.DataFrame.from_records(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(json.dumps(train_on_this_path(args.epochs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
