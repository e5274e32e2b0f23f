"""Re-execute notebooks in place with nbclient and print the seconds each one took.

usage: python tools/execute_notebooks.py notebooks/*.ipynb [--json PATH] [--no-write]

The stored notebooks carry no volatile metadata: execution timestamps (nbclient's and
JupyterLab's `execution`, the ExecuteTime extension's), widget state and signatures are
removed before writing, so re-running an unchanged notebook leaves its file unchanged.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

# Cell metadata that changes on every run: timestamps of the execution (JupyterLab with
# "record timing" on, nbclient with record_timing, the jupyterlab-execute-time extension).
VOLATILE_CELL_METADATA = ("execution", "ExecuteTime")
# Notebook metadata that changes on every run: widget models (random ids) and the signature
# of the notebook's trust (a hash of its outputs, machine-specific).
VOLATILE_NOTEBOOK_METADATA = ("widgets", "signature")


def strip_volatile_metadata(nb) -> None:
    """Remove, in place, the metadata that differs from run to run; keep everything else."""
    for key in VOLATILE_NOTEBOOK_METADATA:
        nb.metadata.pop(key, None)
    for cell in nb.cells:
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)


def execute(path: Path, timeout: int = 600, write: bool = True) -> float:
    """Execute one notebook in its folder, write it back unless told not to; return seconds."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": path.parent}},
        record_timing=False,  # no timestamps: a re-run changes only the cells that changed
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    if write:
        strip_volatile_metadata(nb)
        nbformat.write(nb, path)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--json", type=Path, help="also write {notebook: seconds} here")
    parser.add_argument(
        "--no-write", action="store_true", help="time only; leave the files as they are"
    )
    args = parser.parse_args(argv)
    seconds = {}
    for path in args.notebooks:
        seconds[path.name] = execute(path, write=not args.no_write)
        print(f"{seconds[path.name]:7.1f} s  {path}", flush=True)
    print(f"{sum(seconds.values()):7.1f} s  in total")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(seconds, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
