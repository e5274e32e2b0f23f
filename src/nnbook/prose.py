"""Numbers written for the book's text: a × 10ⁿ, sensible digits, integers as integers.

The notebooks glue the strings these functions return (`glue_text(ch1_ratio=number(r))`, and
{glue:text}`ch1_ratio` in the prose), so that a reader sees "4 × 10⁻⁵", "2000" and "91.2%"
where Python would print 4e-05, 2000.0 and 0.912. Each function refuses what has no reading
in prose (NaN, infinity, booleans, tensors) with an error that says what to do instead.
`table` writes a DataFrame for the page the same way, one format per column.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from nnbook._checks import positive_int

__all__ = ["duration", "fixed", "glue_text", "number", "percent", "sci", "table"]

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
# Plain decimals are written for magnitudes in [SMALL, LARGE); others as a × 10ⁿ.
SMALL, LARGE = 1e-3, 1e6


def _real(name: str, value: object) -> float:
    """`value` as a finite float if it is a real number (not a bool); else a clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        hint = " (call .item() on a one-element tensor)" if hasattr(value, "item") else ""
        if isinstance(value, bool):
            hint = " (write the fact it stands for in words instead)"
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}{hint}")
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite to be written in prose, got {x}")
    return x


def _is_integer(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _strip(text: str) -> str:
    """Drop the trailing zeros of a decimal ("0.500" -> "0.5", "2.0" -> "2")."""
    return text.rstrip("0").rstrip(".") if "." in text else text


def sci(x: object, digits: int = 2) -> str:
    """`x` as "a × 10ⁿ" with `digits` significant digits, e.g. sci(4e-05) == "4 × 10⁻⁵"."""
    value = _real("x", x)
    digits = positive_int("digits", digits)
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
    return f"{_strip(mantissa)} × 10{str(int(exponent)).translate(_SUPERSCRIPT)}"


def number(x: object, digits: int = 3) -> str:
    """`x` for a sentence: integers exactly, others with `digits` significant digits.

    Ints are written exactly, and so are integral floats below LARGE (2000.0 -> "2000"); a
    float below SMALL or from LARGE on is written with `sci` (3.0e-5 -> "3 × 10⁻⁵",
    2.5e11 -> "2.5 × 10¹¹"); others are rounded (0.21749 -> "0.217").
    """
    value = _real("x", x)
    digits = positive_int("digits", digits)
    if _is_integer(x):
        return str(int(x))  # type: ignore[call-overload]  # numbers.Integral
    if value.is_integer() and abs(value) < LARGE:
        return str(int(value))
    if not SMALL <= abs(value) < LARGE:
        return sci(value, digits)
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    text = _strip(f"{value:.{decimals}f}")
    return "0" if text == "-0" else text


def fixed(x: object, decimals: int = 2) -> str:
    """`x` with exactly `decimals` decimals, for values compared side by side ("0.218")."""
    value = _real("x", x)
    decimals = positive_int("decimals", decimals, minimum=0)
    text = f"{value:.{decimals}f}"
    if float(text) == 0 and value != 0:
        raise ValueError(
            f"{value!r} rounds to {text} at {decimals} decimals; use sci() or more decimals"
        )
    return text


def percent(fraction: object, decimals: int = 1) -> str:
    """A fraction as a percentage with `decimals` decimals: percent(0.9123) == "91.2%"."""
    value = _real("fraction", fraction)
    decimals = positive_int("decimals", decimals, minimum=0)
    return f"{100 * value:.{decimals}f}%"


def duration(seconds: object, digits: int = 2) -> str:
    """A time in the unit that suits it: duration(9.2e-6) == "9.2 µs", 0.75 -> "750 ms"."""
    value = _real("seconds", seconds)
    if value < 0:
        raise ValueError(f"seconds must not be negative, got {value}")
    for scale, unit in [(1.0, "s"), (1e-3, "ms"), (1e-6, "µs")]:
        if value >= scale:
            return f"{number(value / scale, digits)} {unit}"
    return f"{number(value / 1e-9, digits)} ns"


# MyST-NB reads a glued value from a display output whose MIME types carry this prefix and
# whose metadata names it (myst_nb.ext.glue.GLUE_PREFIX; tests check the two agree).
GLUE_PREFIX = "application/papermill.record/"


def glue_text(**texts: str) -> None:
    """Glue each formatted text under its name for `{glue:text}`, and print them, one a line.

    JupyterLab shows a glue role as its name, not its value: the printed lines ("name: text")
    give a learner who runs the notebook the values that the book writes into its sentences.
    The output is exactly what `myst_nb.glue(name, text, display=False)` writes, without
    importing MyST-NB's Sphinx extension into the kernel (about a second per chapter).
    """
    from IPython.display import display

    for name, text in texts.items():
        if not isinstance(text, str):
            raise TypeError(
                f"{name} must be a str written by sci, number, fixed or percent, "
                f"got {type(text).__name__} {text!r}"
            )
    for name, text in texts.items():
        display(
            {f"{GLUE_PREFIX}text/plain": repr(text)},
            raw=True,
            metadata={"scrapbook": {"name": name, "mime_prefix": GLUE_PREFIX}},
        )
        print(f"{name}: {text}")


def _cell(value: object) -> str:
    """One table cell without a column format: a number, a yes or no, or text."""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, numbers.Real):
        return number(value)
    return str(value)


def table(
    frame: pd.DataFrame,
    formats: Mapping[str, Callable[[Any], str]] | None = None,
    headers: Mapping[str, str] | None = None,
):
    """`frame` as a plain HTML table, each column written by `formats[column]`.

    Other columns are written cell by cell: numbers with `number`, booleans as "yes" or
    "no", anything else as its text; all text is HTML-escaped. A column's header is
    `headers[column]`, or its name with underscores as spaces ("eval_loss" reads "eval
    loss"). The index is not shown: make a meaningful index a column first
    (`frame.reset_index()`). Returns an `IPython.display.HTML` to display.
    """
    from IPython.display import HTML

    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    formats = dict(formats or {})
    headers = dict(headers or {})
    columns = set(map(str, frame.columns))
    names: list[tuple[str, set[str]]] = [("formats", set(formats)), ("headers", set(headers))]
    for name, given in names:
        unknown = sorted(given - columns)
        if unknown:
            raise ValueError(f"{name} name columns the frame does not have: {unknown}")
    styler = frame.style.format(
        {c: formats.get(str(c), _cell) for c in frame.columns}, escape="html"
    ).format_index(lambda c: headers.get(str(c), str(c).replace("_", " ")), escape="html", axis=1)
    html = styler.hide(axis="index").to_html(exclude_styles=True)
    return HTML(html.replace("<table>", '<table class="dataframe">', 1))
