"""Numbers written for the book's text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from nnbook.prose import GLUE_PREFIX, duration, fixed, glue_text, number, percent, sci, table


@pytest.mark.parametrize(
    ("x", "digits", "expected"),
    [
        (4e-05, 2, "4 × 10⁻⁵"),
        (1.4e-45, 2, "1.4 × 10⁻⁴⁵"),
        (2.5e11, 2, "2.5 × 10¹¹"),
        (-3.14159e-7, 3, "-3.14 × 10⁻⁷"),
        (1234.5, 1, "1 × 10³"),
        (9.96e-3, 2, "1 × 10⁻²"),  # rounding carries into the exponent
        (1.0, 2, "1 × 10⁰"),
        (0.0, 2, "0"),
        (np.float32(5e-3), 2, "5 × 10⁻³"),
    ],
)
def test_sci_writes_a_times_ten_to_the_n(x, digits, expected):
    """sci() writes a mantissa without trailing zeros and a superscript exponent."""
    assert sci(x, digits) == expected


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (2000.0, "2000"),
        (2000, "2000"),
        (np.int64(185), "185"),
        (12345678901234567, "12345678901234567"),
        (0.21749, "0.217"),
        (0.5, "0.5"),
        (12.3456, "12.3"),
        (-0.0, "0"),
        (3.0e-5, "3 × 10⁻⁵"),
        (2.5e11, "2.5 × 10¹¹"),
        (np.float32(0.25), "0.25"),
    ],
)
def test_number_writes_integers_as_integers_and_others_rounded(x, expected):
    """number() keeps integers exact, rounds other values, and uses sci() at the extremes."""
    assert number(x) == expected


def test_fixed_keeps_its_decimals():
    """fixed() writes a fixed number of decimals, trailing zeros included, for comparisons."""
    assert fixed(0.2, 3) == "0.200"
    assert fixed(12, 0) == "12"


def test_fixed_refuses_a_value_that_would_read_as_zero():
    """A non-zero value that rounds to 0.000 is refused rather than written as zero."""
    with pytest.raises(ValueError, match=r"rounds to 0\.00"):
        fixed(1e-4, 2)
    assert fixed(0.0, 2) == "0.00"


def test_percent_writes_a_fraction_as_percentage():
    """percent() multiplies by 100 and keeps the requested decimals."""
    assert percent(0.9123) == "91.2%"
    assert percent(1.0, 0) == "100%"
    assert percent(0.5, 2) == "50.00%"


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(9.2e-6, "9.2 µs"), (0.75, "750 ms"), (12.0, "12 s"), (3e-10, "0.3 ns"), (0.0, "0 ns")],
)
def test_duration_picks_the_unit(seconds, expected):
    """duration() writes seconds in s, ms, µs or ns, whichever puts the value at 1 or more."""
    assert duration(seconds) == expected


def test_negative_durations_are_refused():
    """A negative duration is a bug upstream, refused."""
    with pytest.raises(ValueError, match="must not be negative"):
        duration(-1.0)


@pytest.mark.parametrize("function", [sci, number, fixed, percent, duration])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -np.inf])
def test_non_finite_values_are_refused(function, bad):
    """NaN and infinity have no place in a sentence: every function refuses them."""
    with pytest.raises(ValueError, match="must be finite"):
        function(bad)


@pytest.mark.parametrize("function", [sci, number, fixed, percent])
def test_booleans_are_refused_with_a_hint(function):
    """A bool is not a number for the text: write the fact in words."""
    with pytest.raises(TypeError, match="in words"):
        function(True)


@pytest.mark.parametrize("function", [sci, number, fixed, percent])
def test_tensors_are_refused_with_a_hint(function):
    """A tensor must be turned into a Python number with .item() first."""
    with pytest.raises(TypeError, match=r"\.item\(\)"):
        function(torch.tensor(0.5))


@pytest.mark.parametrize("function", [sci, number, fixed, percent])
def test_strings_are_refused(function):
    """A string is refused: it was probably formatted once already."""
    with pytest.raises(TypeError, match="must be a real number, got str"):
        function("0.5")


@pytest.mark.parametrize("digits", [0, -1])
def test_bad_digit_counts_are_refused(digits):
    """sci() and number() need at least one significant digit."""
    with pytest.raises(ValueError, match="digits must be a positive int"):
        sci(1.0, digits)
    with pytest.raises(ValueError, match="digits must be a positive int"):
        number(1.5, digits)


def test_bad_decimal_counts_are_refused():
    """fixed() and percent() need a whole number of decimals, zero or more."""
    with pytest.raises(ValueError, match="decimals must be an int of at least 0"):
        fixed(1.0, -1)
    with pytest.raises(TypeError, match="decimals must be an int"):
        percent(0.5, 1.5)


def _displays(monkeypatch, module) -> list:
    """Record what `module` passes to IPython's display instead of displaying it."""
    shown: list = []
    monkeypatch.setattr(module, "display", lambda *a, **k: shown.append((a, k)), raising=False)
    return shown


def test_glue_text_writes_what_myst_nb_glue_writes(monkeypatch, capsys):
    """glue_text() displays exactly what myst_nb's glue(display=False) does, then prints."""
    import IPython.display
    import myst_nb.ext.glue

    theirs: list = []
    monkeypatch.setattr(myst_nb.ext.glue, "ipy_display", lambda *a, **k: theirs.append((a, k)))
    myst_nb.ext.glue.glue("ch0_a", sci(4e-5), display=False)
    myst_nb.ext.glue.glue("ch0_b", number(2000.0), display=False)
    ours = _displays(monkeypatch, IPython.display)
    glue_text(ch0_a=sci(4e-5), ch0_b=number(2000.0))
    assert ours == theirs
    assert myst_nb.ext.glue.GLUE_PREFIX == GLUE_PREFIX
    assert capsys.readouterr().out == "ch0_a: 4 × 10⁻⁵\nch0_b: 2000\n"


def test_glue_text_refuses_unformatted_values(monkeypatch):
    """A number glued without formatting is refused before anything is glued."""
    import IPython.display

    shown = _displays(monkeypatch, IPython.display)
    with pytest.raises(TypeError, match="ch0_b must be a str written by sci"):
        glue_text(ch0_a="1", ch0_b=0.5)
    assert shown == []


def test_table_formats_each_column_and_hides_the_index():
    """table() formats per column (number(), yes/no, text by default) and hides the index."""
    frame = pd.DataFrame(
        {
            "epochs": [2000.0, 500.0],
            "loss": [4e-05, 0.21749],
            "device": ["cpu", "cuda"],
            "mixed": [True, 3.0],
        },
        index=[7, 8],
    )
    html = table(frame, {"loss": sci}).data
    assert html.startswith('<table class="dataframe">')
    for cell in ["2000", "500", "4 × 10⁻⁵", "2.2 × 10⁻¹", "cpu", "cuda", "yes", "3"]:
        assert f">{cell}</td>" in html, cell
    assert "2000.0" not in html and ">7<" not in html and "<th ></th>" not in html
    assert "<style" not in html and " id=" not in html


def test_table_refuses_unknown_columns():
    """A format for a column the frame lacks is a mistake, refused with the column's name."""
    with pytest.raises(ValueError, match=r"\['los'\]"):
        table(pd.DataFrame({"loss": [0.5]}), {"los": sci})


def test_table_escapes_cell_text_and_headers():
    """A "<" or "&" in a cell or a header is written as an HTML entity, not as markup."""
    import pandas as pd

    from nnbook.prose import table

    html = table(pd.DataFrame({"a < b": ["± < 0.0001", "x & y"]})).data
    assert "± &lt; 0.0001" in html and "x &amp; y" in html and "a &lt; b" in html
    assert "<b" not in html.replace("<body", "")


def test_table_headers_read_as_words():
    """Headers lose their underscores, or take the text given for them; unknown names fail."""
    frame = pd.DataFrame({"eval_loss": [0.25], "n_train": [100], "lr": [0.1]})
    html = table(frame, headers={"n_train": "training points"}).data
    for header in ["eval loss", "training points", "lr"]:
        assert f">{header}</th>" in html, header
    assert "_" not in html.split("<tbody>")[0]
    with pytest.raises(ValueError, match=r"headers name columns .*\['n_trian'\]"):
        table(frame, headers={"n_trian": "training points"})
