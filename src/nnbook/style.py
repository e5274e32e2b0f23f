"""The book's look: palette, figure sizes, fonts, and figures shown as HiDPI RGB PNGs.

`use_book_style()` applies it (every chapter calls it first); `figure_png` is how a figure
becomes the PNG a page shows, with the width it is meant to be shown at.
"""

from __future__ import annotations

import io

import matplotlib as mpl
import matplotlib.pyplot as plt
from cycler import cycler
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from PIL import Image

__all__ = [
    "CLASS_COLORS",
    "CLASS_MARKERS",
    "CSS_PX_PER_INCH",
    "DPI",
    "FIGSIZE",
    "FIGSIZE_WIDE",
    "MAX_CLASSES",
    "MIN_FONT_PT",
    "PALETTE",
    "class_cmap",
    "class_colors",
    "figure_png",
    "use_book_style",
]

# ColorBrewer Set2 for classes (colour-blind safe), a blue/orange pair for train/eval.
CLASS_COLORS: tuple[str, ...] = ("#66c2a5", "#fc8d62", "#8da0cb", "#e78ac3")
CLASS_MARKERS: tuple[str, ...] = ("o", "X", "s", "D")
PALETTE: dict[str, str] = {
    "train": "#2c7bb6",
    "eval": "#d7191c",
    "bayes": "#1a9641",
    "centerline": "#4d4d4d",
    "model": "#2c7bb6",
    "accent": "#fdae61",
}
# Figures are drawn for the page's text column. A single panel is FIGSIZE, small enough (at
# most 4.7 in with its labels) to fit a phone's column with its smallest font at 12 px or
# more; two panels side by side (never more per row) are FIGSIZE_WIDE, at most 7 in. The PNGs
# are rendered at DPI and shown at CSS_PX_PER_INCH (their width in the output's metadata), so
# DPI / 96 device pixels per CSS pixel: sharp on HiDPI screens. A font of s pt then shows at
# s * 96 / 72 CSS px on a wide page: MIN_FONT_PT = 12 pt, the smallest font on any axis (tick
# labels, legend), shows at 16 px, the body text's size. A browser reads the displayed size
# of that font as MIN_FONT_PT * DPI / 72 * clientWidth / naturalWidth of the image.
FIGSIZE: tuple[float, float] = (4.5, 3.3)
FIGSIZE_WIDE: tuple[float, float] = (7.0, 3.2)
DPI = 144
CSS_PX_PER_INCH = 96
MIN_FONT_PT = 12.0


def use_book_style() -> None:
    """Apply the book's matplotlib style: column-sized figures, large fonts, HiDPI RGB PNGs.

    Under IPython it also registers the PNG formatter of `figure_png`, so every figure a cell
    shows is an RGB PNG at DPI with the width (in CSS px) it is meant to be shown at.
    """
    _register_png_formatter()  # first: loading the inline backend applies its own rcParams
    mpl.rcParams.update(
        {
            "figure.figsize": FIGSIZE,
            "figure.dpi": DPI,
            "savefig.dpi": DPI,
            "figure.facecolor": "white",
            "savefig.facecolor": "white",
            "font.size": MIN_FONT_PT,
            "axes.titlesize": MIN_FONT_PT + 1,
            "axes.labelsize": MIN_FONT_PT + 1,
            "xtick.labelsize": MIN_FONT_PT,
            "ytick.labelsize": MIN_FONT_PT,
            "legend.fontsize": MIN_FONT_PT,
            "legend.title_fontsize": MIN_FONT_PT,
            "figure.titlesize": MIN_FONT_PT + 2,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "legend.frameon": False,
            "image.cmap": "RdBu_r",
            "axes.prop_cycle": cycler(color=[PALETTE["train"], PALETTE["eval"], *CLASS_COLORS]),
        }
    )


def figure_png(fig: Figure) -> tuple[bytes, dict[str, int]]:
    """`fig` as RGB PNG bytes (flattened onto white) and its display width in CSS px."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    image = Image.open(io.BytesIO(buffer.getvalue()))
    rgb = Image.new("RGB", image.size, "white")
    rgb.paste(image, mask=image.getchannel("A") if image.mode == "RGBA" else None)
    out = io.BytesIO()
    rgb.save(out, format="PNG", optimize=True)
    return out.getvalue(), {"width": round(image.width * CSS_PX_PER_INCH / DPI)}


def _register_png_formatter() -> None:
    """Show matplotlib figures through `figure_png` when running under IPython."""
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: nothing displays figures
        return
    shell = get_ipython()
    if shell is None:
        return
    # Loading the backend now lets the inline backend register its own formatter first, so
    # that it cannot replace this one when the first figure is drawn.
    plt.switch_backend(mpl.get_backend())
    formatters = shell.display_formatter.formatters
    formatters["image/png"].for_type(Figure, figure_png)
    for mime in ("image/svg+xml", "image/jpeg", "application/pdf"):
        formatters[mime].pop(Figure, None)


# The book's colours first, then matplotlib's qualitative tab10 for further classes.
MAX_CLASSES = 10


def class_colors() -> list:
    tab10 = mpl.colormaps["tab10"].colors  # type: ignore[attr-defined]  # a ListedColormap
    extra = [c for c in tab10 if mpl.colors.to_hex(c) not in CLASS_COLORS]
    return [*CLASS_COLORS, *extra][:MAX_CLASSES]


def class_cmap(n_classes: int) -> ListedColormap:
    """A colormap with one book colour per class."""
    return ListedColormap(CLASS_COLORS[:n_classes])
