"""Count the words a reader reads and the figures a reader sees, chapter by chapter.

usage: python tools/chapter_stats.py notebooks/*.ipynb [--markdown]

Words are those of the markdown cells (exercise discussions included), without code
blocks, display maths, MyST directive fences and their options; an inline glued value or
role counts as one word, inline maths as one word. Figures are code cells whose MyST-NB
metadata declares a figure (a caption and a name).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

FENCED_CODE = re.compile(r"^(```|~~~)[^\n]*\n.*?^\1\s*$", re.S | re.M)
DISPLAY_MATH = re.compile(r"\$\$.*?\$\$", re.S)
DIRECTIVE_LINE = re.compile(r"^\s*(:::+|```+)[^\n]*$|^\s*:[a-z-]+:[^\n]*$", re.M)
ROLE = re.compile(r"\{[a-z:-]+\}`[^`]*`")
INLINE_MATH = re.compile(r"\$[^$\n]+\$")
INLINE_CODE = re.compile(r"`[^`\n]+`")
LINK_TARGET = re.compile(r"\]\([^)]*\)")
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’.,%-]*")


def prose_words(markdown: str) -> int:
    """The number of words a reader reads in one markdown cell's source."""
    text = FENCED_CODE.sub(" ", markdown)
    text = DISPLAY_MATH.sub(" ", text)
    text = DIRECTIVE_LINE.sub(" ", text)
    text = ROLE.sub(" value ", text)
    text = INLINE_MATH.sub(" maths ", text)
    text = INLINE_CODE.sub(" code ", text)
    text = LINK_TARGET.sub("]", text)
    return len(WORD.findall(text))


def chapter_stats(path: Path) -> dict[str, object]:
    """Words of prose and number of figures of one notebook."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    words = 0
    figures = 0
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            words += prose_words(source)
        elif cell["cell_type"] == "code":
            figure = cell.get("metadata", {}).get("mystnb", {}).get("figure", {})
            if figure.get("caption") and figure.get("name"):
                figures += 1
    title = next(
        (
            line.lstrip("# ").strip()
            for cell in nb["cells"]
            if cell["cell_type"] == "markdown"
            for line in "".join(cell["source"]).splitlines()
            if line.startswith("# ")
        ),
        path.stem,
    )
    return {"notebook": path.name, "title": title, "words": words, "figures": figures}


def markdown_table(rows: list[dict[str, object]]) -> str:
    """The statistics as the Markdown table that book/running.md carries."""
    lines = ["| Chapter | Words | Figures |", "| --- | ---: | ---: |"]
    for row in rows:
        lines.append(f"| {row['title']} | {row['words']:,} | {row['figures']} |")
    total = sum(int(row["words"]) for row in rows)  # type: ignore[call-overload]
    lines.append(f"| All chapters | {total:,} | {sum(int(r['figures']) for r in rows)} |")  # type: ignore[call-overload]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--markdown", action="store_true", help="print the Markdown table")
    args = parser.parse_args(argv)
    rows = [chapter_stats(path) for path in args.notebooks]
    if args.markdown:
        print(markdown_table(rows))
    else:
        for row in rows:
            print(f"{row['notebook']:45} {row['words']:6d} words {row['figures']:3d} figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
