"""Tests for tools/execute_notebooks.py, the executor behind `make execute` and `make bench`."""

import json
import subprocess
import sys
from pathlib import Path

import nbformat

TOOL = Path(__file__).resolve().parents[1] / "tools" / "execute_notebooks.py"


def test_execute_notebooks_times_without_writing(tmp_path):
    """--no-write executes a notebook, reports its seconds as JSON and leaves the file alone."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("1 + 1"))
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    before = path.read_text()
    out = tmp_path / "seconds.json"
    cmd = [sys.executable, str(TOOL), "--no-write", "--json", str(out), str(path)]
    subprocess.run(cmd, check=True, capture_output=True)
    seconds = json.loads(out.read_text())
    assert list(seconds) == ["tiny.ipynb"] and seconds["tiny.ipynb"] > 0
    assert path.read_text() == before
