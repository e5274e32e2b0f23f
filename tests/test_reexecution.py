"""The stored notebook outputs are re-execution proof, and the leeway nbval is given is narrow.

`make test` re-executes every notebook with nbval and compares each output with the stored
one, after the rewrites of tests/nbval_sanitize.cfg and outside cells tagged
nbval-ignore-output; that run is the re-execution check. These tests prove that its leeway is
no wider than it claims: each sanitizer rewrites timings, throughputs and addresses but leaves
ordinary numbers alone, every ignored cell says why, and the stored outputs come from one clean
top-to-bottom run with nothing machine-specific or on stderr in them.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from nbval.plugin import get_sanitize_patterns

ROOT = Path(__file__).resolve().parents[1]
SANITIZE_FILE = ROOT / "tests" / "nbval_sanitize.cfg"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
IGNORE_TAG = "nbval-ignore-output"
# Why a cell's output may differ between correct runs: wall-clock measurements, the name or
# size of the machine, a random id that a library embeds, or float32 results whose last bits
# (and, after chaotic training, whole networks) depend on the CPU's or GPU's kernels.
IGNORE_KINDS = {"timing", "hardware", "random id", "float32"}
IGNORE_LINE = re.compile(rf"^# {IGNORE_TAG} \((?P<kind>[a-z0-9 ]+)\): (?P<why>.+)$")
# Text that betrays the machine a notebook ran on; PNG and other base64 data are not searched.
MACHINE_PATHS = re.compile(r"/(tmp|work|root|home)/|site-packages|[A-Z]:\\Users\\")
TEXT_MIMES = ("text/plain", "text/html", "text/markdown", "text/latex", "application/json")

# Text that the sanitizers must rewrite, and what it must become.
VARIABLE = [
    ("took 0.0123 s", "took <DURATION>"),
    ("12.3 ms per epoch", "<DURATION> per epoch"),
    ("45 µs", "<DURATION>"),
    ("median 7.5us", "median <DURATION>"),
    ("3.2e-05 s", "<DURATION>"),
    ("800 ns", "<DURATION>"),
    ("CPU: 123.4 GFLOP/s", "CPU: <GFLOPS> GFLOP/s"),
    ("37 GFLOP/s", "<GFLOPS> GFLOP/s"),
    ("<Figure object at 0x7f3a2b1c9d80>", "<Figure object at <ADDRESS>>"),
]
# Ordinary output that no sanitizer may touch: losses, counts, shapes, rates, seeds.
ORDINARY = [
    "0.2175",
    "185",
    "train loss 0.2175, eval loss 0.2385",
    "accuracy 0.906 (eval 0.892)",
    "tensor([690, 639, 671])",
    "torch.Size([50, 3])",
    "lr 0.005 -> 5e-05 over 1000 epochs",
    "2000 samples, 1000 for evaluation",
    "seed 2100",
    "hidden sizes 1, 2 and 4",
    "0x10 is sixteen",
    "step 20: 3 misclassified",
]


def sanitize(text: str) -> str:
    """Apply the sanitizers exactly as nbval does: every pattern of the file, in order."""
    for regex, replace in get_sanitize_patterns(SANITIZE_FILE.read_text()):
        text = re.sub(regex, replace, text)
    return text


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def code_cells(path: Path) -> list[dict]:
    return [cell for cell in read(path)["cells"] if cell["cell_type"] == "code"]


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def output_text(output: dict) -> str:
    """The textual content of one output (stream text, or text-like data), joined."""
    if "text" in output:
        text = output["text"]
        return "".join(text) if isinstance(text, list) else text
    parts = []
    for mime in TEXT_MIMES:
        value = output.get("data", {}).get(mime)
        if value is None:
            continue
        if mime == "application/json":
            parts.append(json.dumps(value))
        else:
            parts.append("".join(value) if isinstance(value, list) else value)
    return "\n".join(parts)


def test_sanitize_file_is_parsed_by_nbval():
    """nbval reads every section of the sanitize file (each regex line right above its replace)."""
    text = SANITIZE_FILE.read_text()
    sections = re.findall(r"^\[.+\]$", text, flags=re.MULTILINE)
    patterns = get_sanitize_patterns(text)
    assert len(patterns) == len(sections) >= 3
    for regex, _ in patterns:
        re.compile(regex)


@pytest.mark.parametrize(("text", "expected"), VARIABLE)
def test_sanitizers_rewrite_variable_output(text, expected):
    """Durations, throughputs and memory addresses are rewritten to a placeholder."""
    assert sanitize(text) == expected


@pytest.mark.parametrize("text", ORDINARY)
def test_sanitizers_leave_ordinary_numbers_alone(text):
    """Losses, counts, shapes and rates pass through the sanitizers unchanged."""
    assert sanitize(text) == text


def test_notebooks_are_found():
    """The checks below have the seven chapters to look at."""
    assert len(NOTEBOOKS) >= 7, NOTEBOOKS


def ignore_reason(cell: dict) -> tuple[str, str] | None:
    """The (kind, reason) of a relaxed cell's first line, `# nbval-ignore-output (kind): why`."""
    for line in source(cell).splitlines():
        match = IGNORE_LINE.match(line.strip())
        if match:
            return match["kind"], match["why"]
    return None


def asserts_with_messages(cell: dict) -> tuple[int, int]:
    """How many checks a cell makes (assert statements, assert_*() calls), and bare asserts."""
    tree = ast.parse(source(cell))
    checks = bare = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            checks += 1
            bare += node.msg is None
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            checks += name.startswith("assert_")
    return checks, bare


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_ignored_cells_say_why(path):
    """Every cell whose output nbval ignores names the kind of variation and the reason."""
    silent = []
    for cell in code_cells(path):
        if IGNORE_TAG not in cell.get("metadata", {}).get("tags", []):
            continue
        reason = ignore_reason(cell)
        if reason is None or len(reason[1].split()) < 4:
            silent.append(source(cell).splitlines()[:2])
    assert not silent, (
        f"{path.name}: {IGNORE_TAG} cells without a '# {IGNORE_TAG} (kind): why' line, "
        f"kind one of {sorted(IGNORE_KINDS)}: {silent}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_relaxed_float32_results_are_checked(path):
    """A cell relaxed for float32 results checks them itself, with asserts that have messages.

    nbval does not compare what such a cell prints or glues, because another CPU or GPU
    computes other last bits (and, after chaotic training, other networks). What the prose
    says about those values must then hold on any machine, and the cell's asserts (ranges,
    tolerances) are what proves it each time the notebook runs.
    """
    unchecked = []
    for cell in code_cells(path):
        reason = ignore_reason(cell) if IGNORE_TAG in cell["metadata"].get("tags", []) else None
        if reason is None or reason[0] != "float32":
            continue
        checks, bare = asserts_with_messages(cell)
        if checks == 0 or bare:
            unchecked.append(source(cell).splitlines()[:2])
    assert not unchecked, f"{path.name}: float32 cells unchecked or with bare asserts: {unchecked}"


def test_relaxed_kinds_are_known():
    """The reasons a cell may be relaxed for are few, and every relaxed cell uses one of them."""
    kinds = {
        reason[0]
        for path in NOTEBOOKS
        for cell in code_cells(path)
        if IGNORE_TAG in cell["metadata"].get("tags", []) and (reason := ignore_reason(cell))
    }
    assert kinds <= IGNORE_KINDS, kinds - IGNORE_KINDS
    assert "float32" in kinds, "no cell is relaxed for float32 results: is the check still wired?"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_other_nbval_escape_hatch(path):
    """No cell skips nbval or expects an exception: the only leeway is ignoring output."""
    for cell in code_cells(path):
        tags = cell.get("metadata", {}).get("tags", [])
        others = [tag for tag in tags if tag.startswith("nbval") and tag != IGNORE_TAG]
        assert not others, f"{path.name}: cell tagged {others}: {source(cell)[:80]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs_come_from_one_clean_run(path):
    """Code cells were executed once each, top to bottom, in a fresh kernel (1, 2, 3, ...)."""
    counts = [cell.get("execution_count") for cell in code_cells(path) if source(cell).strip()]
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: execution counts {counts}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_are_clean(path):
    """No stored output is an error, goes to stderr, or shows a path of the machine."""
    problems = []
    for number, cell in enumerate(code_cells(path), start=1):
        for output in cell.get("outputs", []):
            if output["output_type"] == "error":
                problems.append(f"code cell {number}: error {output.get('ename')}")
            if output["output_type"] == "stream" and output.get("name") == "stderr":
                problems.append(f"code cell {number}: stderr {output_text(output)[:120]!r}")
            match = MACHINE_PATHS.search(output_text(output))
            if match:
                text = output_text(output)
                context = text[max(0, match.start() - 40) : match.end() + 40]
                problems.append(f"code cell {number}: machine path {context!r}")
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_hidden_cells_start_collapsed_in_jupyterlab(path):
    """A cell the book hides behind a toggle (hide-cell, a solution) is collapsed in JupyterLab.

    JupyterLab ignores the tag; it reads `jupyter.source_hidden` and `jupyter.outputs_hidden`.
    """
    open_cells = []
    for number, cell in enumerate(read(path)["cells"], start=1):
        if "hide-cell" not in cell.get("metadata", {}).get("tags", []):
            continue
        jupyter = cell["metadata"].get("jupyter", {})
        keys = (
            ["source_hidden", "outputs_hidden"]
            if cell["cell_type"] == "code"
            else ["source_hidden"]
        )
        if not all(jupyter.get(key) is True for key in keys):
            open_cells.append(f"cell {number}: {source(cell)[:60]!r} has jupyter={jupyter}")
    assert not open_cells, f"{path.name}: hide-cell cells not collapsed:\n" + "\n".join(open_cells)


GLUE_ROLE = re.compile(r"\{glue:text\}`(?P<key>[A-Za-z0-9_]+)(:[^`]*)?`")


def glued_names(cell: dict) -> set[str]:
    """The names a code cell glues, read from its stored output lines `name: text`."""
    names = set()
    for output in cell.get("outputs", []):
        for line in output_text(output).splitlines():
            name, sep, _ = line.partition(": ")
            if sep and re.fullmatch(r"[A-Za-z0-9_]+", name):
                names.add(name)
    tree = ast.parse(source(cell)) if "glue" in source(cell) else None
    for node in ast.walk(tree) if tree else []:
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "glue_text":
            names.update(keyword.arg for keyword in node.keywords if keyword.arg)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "glue":
            if node.args and isinstance(node.args[0], ast.Constant):
                names.add(str(node.args[0].value))
    return names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_glued_values_are_printed_before_their_sentence(path):
    """In JupyterLab a glue role shows as its name: its value is printed in a cell above it.

    A learner who runs the notebook reads each sentence with its numbers just above it, in
    the output of the (in the book, removed) cell that computes and glues them.
    """
    seen: set[str] = set()
    late = []
    for number, cell in enumerate(read(path)["cells"], start=1):
        if cell["cell_type"] == "code":
            seen |= glued_names(cell)
            continue
        for match in GLUE_ROLE.finditer(source(cell)):
            if match["key"] not in seen:
                late.append(f"cell {number}: {match['key']}")
    assert not late, f"{path.name}: glued values used before the cell that prints them:\n" + (
        "\n".join(late)
    )
