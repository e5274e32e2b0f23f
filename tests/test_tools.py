"""Tests for tools/execute_notebooks.py, the executor behind `make execute` and `make bench`."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import nbformat

TOOL = Path(__file__).resolve().parents[1] / "tools" / "execute_notebooks.py"
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def load_tool():
    """tools/execute_notebooks.py as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location("execute_notebooks", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_execute_notebooks_times_without_writing(tmp_path):
    """--no-write executes a notebook, reports its seconds as JSON and leaves the file alone."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("1 + 1"))
    nb.metadata["kernelspec"] = KERNELSPEC
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    before = path.read_text()
    out = tmp_path / "seconds.json"
    cmd = [sys.executable, str(TOOL), "--no-write", "--json", str(out), str(path)]
    subprocess.run(cmd, check=True, capture_output=True)
    seconds = json.loads(out.read_text())
    assert list(seconds) == ["tiny.ipynb"] and seconds["tiny.ipynb"] > 0
    assert path.read_text() == before


def test_strip_volatile_metadata_keeps_the_rest():
    """Timestamps, widget state and signatures go; tags, collapse state and kernel info stay."""
    tool = load_tool()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb.metadata["signature"] = "sha256:0123"
    cell = nbformat.v4.new_code_cell("1 + 1")
    cell.metadata["execution"] = {
        "iopub.execute_input": "2026-11-29T10:00:00.000000Z",
        "shell.execute_reply": "2026-11-29T10:00:01.000000Z",
    }
    cell.metadata["ExecuteTime"] = {"start_time": "2026-11-29T10:00:00", "end_time": "x"}
    cell.metadata["tags"] = ["hide-input", "nbval-ignore-output"]
    cell.metadata["jupyter"] = {"source_hidden": True}
    nb.cells.append(cell)
    tool.strip_volatile_metadata(nb)
    assert "widgets" not in nb.metadata and "signature" not in nb.metadata, nb.metadata
    assert nb.metadata["kernelspec"] == KERNELSPEC, "the kernel spec must stay"
    assert dict(nb.cells[0].metadata) == {
        "tags": ["hide-input", "nbval-ignore-output"],
        "jupyter": {"source_hidden": True},
    }, "only the volatile keys may go"


def test_rerun_of_an_unchanged_notebook_leaves_the_file_unchanged(tmp_path):
    """Executing and storing twice writes the same bytes: no timestamps, nothing volatile."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.cells.append(nbformat.v4.new_code_cell("x = 6 * 7\nprint(x)"))
    nb.cells[0].metadata["execution"] = {"iopub.status.busy": "2026-11-29T10:00:00.000000Z"}
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    for run in range(2):
        subprocess.run([sys.executable, str(TOOL), str(path)], check=True, capture_output=True)
        stored = nbformat.read(path, as_version=4)
        cell = stored.cells[0]
        assert "execution" not in cell.metadata, f"a timestamp was stored: {cell.metadata}"
        assert cell.outputs and "42" in cell.outputs[0]["text"], "the cell did not run"
        if run == 0:
            first = path.read_bytes()
    assert path.read_bytes() == first, "a second run changed the stored notebook"
