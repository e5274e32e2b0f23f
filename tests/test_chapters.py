"""Every chapter has the book's shape: goals, a summary, exercises in one format, figures.

The word and figure counts of book/running.md are the ones tools/chapter_stats.py computes
from the notebooks as they are, so the page cannot fall out of date.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
spec = importlib.util.spec_from_file_location("chapter_stats", ROOT / "tools/chapter_stats.py")
assert spec is not None and spec.loader is not None, "tools/chapter_stats.py is missing"
chapter_stats = importlib.util.module_from_spec(spec)
spec.loader.exec_module(chapter_stats)

GOALS = "By the end of the chapter you will be able to"
EXERCISE = re.compile(r"^\*\*(?P<number>\d+)\.", re.M)
DISCUSSION = re.compile(r"^:::+\{admonition\} Discussion\s*\n:class: dropdown", re.M)
# Words that belong to running.md, not to the chapters: the test tools, and "seed" for the
# source texts (the word is kept for random seeds).
NOT_FOR_READERS = re.compile(r"nbval|tests/|seed 00\d|the seed's\b|seed (notebook|text)", re.I)
MAX_WORDS = {"02_xor_first_classifier.ipynb": 3000}


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def text(cell: dict) -> str:
    return "".join(cell["source"])


def test_there_are_eight_chapters():
    assert len(NOTEBOOKS) == 8, [path.name for path in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_opens_with_goals_and_ends_with_summary_and_exercises(path):
    markdown = [text(cell) for cell in cells(path) if cell["cell_type"] == "markdown"]
    opening = "\n".join(markdown[:3])
    headings = [line for cell in markdown for line in cell.splitlines() if line.startswith("## ")]
    assert GOALS in opening, f"{path.name}: no '{GOALS}:' list at the start"
    assert "## Summary" in headings, f"{path.name}: no Summary section"
    assert headings[-1] == "## Exercises", f"{path.name}: the last section is {headings[-1]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_have_hidden_solutions_and_collapsed_discussions(path):
    """Each exercise: a statement, solution code hidden, a collapsed Discussion after it."""
    all_cells = cells(path)
    start = next(i for i, c in enumerate(all_cells) if "## Exercises" in text(c).splitlines())
    exercises: list[dict[str, int]] = []
    problems = []
    for cell in all_cells[start:]:
        source = text(cell)
        tags = cell.get("metadata", {}).get("tags", [])
        statements = EXERCISE.findall(source) if cell["cell_type"] == "markdown" else []
        if statements and not DISCUSSION.search(source):
            exercises.extend({"solutions": 0, "discussions": 0} for _ in statements)
        elif "remove-cell" in tags:
            continue  # bookkeeping (glue), not on the page
        elif cell["cell_type"] == "code" and exercises:
            exercises[-1]["solutions"] += 1
            if "hide-cell" not in tags:
                problems.append(f"a solution is not hidden: {source[:50]!r}")
            prompt = cell["metadata"].get("mystnb", {}).get("code_prompt_show", "")
            if "solution" not in prompt:
                problems.append(f"a solution's toggle does not say so: {source[:50]!r}")
        elif DISCUSSION.search(source) and exercises:
            exercises[-1]["discussions"] += 1
            if "hide-cell" not in tags:
                problems.append(f"a discussion is not hidden: {source[:50]!r}")
    assert exercises, f"{path.name}: no exercises"
    for number, exercise in enumerate(exercises, start=1):
        if exercise["solutions"] < 1 or exercise["discussions"] != 1:
            problems.append(f"exercise {number}: {exercise}")
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_reader_text_names_no_test_tools_and_no_seed_documents(path):
    found = [
        match.group(0)
        for cell in cells(path)
        if cell["cell_type"] == "markdown"
        for match in NOT_FOR_READERS.finditer(text(cell))
    ]
    assert not found, f"{path.name}: {found}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_has_a_figure_and_keeps_to_its_length(path):
    stats = chapter_stats.chapter_stats(path)
    assert stats["figures"] >= 1, f"{path.name} has no figure"
    limit = MAX_WORDS.get(path.name)
    if limit is not None:
        assert stats["words"] < limit, f"{path.name}: {stats['words']} words (< {limit})"


def test_running_md_lists_the_current_word_and_figure_counts():
    table = chapter_stats.markdown_table([chapter_stats.chapter_stats(p) for p in NOTEBOOKS])
    running = (ROOT / "book" / "running.md").read_text(encoding="utf-8")
    assert table in running, (
        "book/running.md's table of chapters is out of date; regenerate it with\n"
        "python tools/chapter_stats.py notebooks/*.ipynb --markdown\n" + table
    )


def test_prose_words_skip_code_maths_and_markup():
    source = (
        "Two words {glue:text}`ch0_x` and $x^2$.\n\n```python\nignored code here\n```\n"
        ":::{admonition} Discussion\n:class: dropdown\nThree more words\n:::\n$$\na + b\n$$\n"
    )
    # Two, words, <value>, and, <maths>, Three, more, words
    assert chapter_stats.prose_words(source) == 8
