"""The build step that stores the site's figures with a palette keeps them as they look."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("site_assets", ROOT / "book/_ext/site_assets.py")
assert spec is not None and spec.loader is not None, "book/_ext/site_assets.py is missing"
site_assets = importlib.util.module_from_spec(spec)
spec.loader.exec_module(site_assets)


def figure_png() -> bytes:
    """A figure like the book's: a colour map, lines, points and text, at 144 dpi."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(6, 3), dpi=144)
    x, y = np.meshgrid(np.linspace(0, 1, 200), np.linspace(0, 1, 200))
    left.imshow(np.sin(6 * x) * np.cos(4 * y), cmap="RdBu_r")
    right.plot(np.linspace(0, 1, 50), np.linspace(0, 1, 50) ** 2, label="a curve")
    right.scatter(np.random.default_rng(0).random(40), np.random.default_rng(1).random(40))
    right.legend()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()


def pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_palette_png_is_smaller_and_looks_the_same():
    """The palette image has the same size, is much smaller, and no pixel moves far."""
    data = figure_png()
    smaller = site_assets.palette_png(data)
    assert len(smaller) < 0.7 * len(data), (len(smaller), len(data))
    before, after = pixels(data), pixels(smaller)
    assert before.shape == after.shape, "the image changed size"
    difference = np.abs(before - after)
    assert np.percentile(difference, 99) <= 12, "colours moved visibly"
    assert difference.mean() < 2, f"mean colour change {difference.mean():.2f} of 255"


def test_palette_png_leaves_animations_and_palette_images_alone():
    """An animated PNG keeps its frames; an image already with a palette is not redone."""
    frames = [Image.new("RGB", (20, 10), color) for color in ["red", "green", "blue"]]
    out = io.BytesIO()
    frames[0].save(out, format="PNG", save_all=True, append_images=frames[1:], duration=100)
    animated = out.getvalue()
    assert site_assets.palette_png(animated) is animated
    once = site_assets.palette_png(figure_png())
    assert site_assets.palette_png(once) is once


def test_shrink_figures_rewrites_pages_figures_and_notebook_outputs(tmp_path):
    """Both the page figures and the PNG outputs of the downloadable notebooks shrink."""
    data = figure_png()
    (tmp_path / "_images").mkdir()
    (tmp_path / "_images" / "fig.png").write_bytes(data)
    (tmp_path / "_sources" / "notebooks").mkdir(parents=True)
    output = {"output_type": "display_data", "metadata": {}, "data": {}}
    output["data"] = {"image/png": base64.b64encode(data).decode(), "text/plain": "<Figure>"}
    nb = {"cells": [{"cell_type": "code", "source": "", "outputs": [output]}], "nbformat": 4}
    path = tmp_path / "_sources" / "notebooks" / "ch.ipynb"
    path.write_text(json.dumps(nb))
    site_assets.shrink_figures(tmp_path)
    assert (tmp_path / "_images" / "fig.png").stat().st_size < 0.7 * len(data)
    stored = json.loads(path.read_text())["cells"][0]["outputs"][0]["data"]
    assert len(base64.b64decode(stored["image/png"])) < 0.7 * len(data)
    assert stored["text/plain"] == "<Figure>", "other outputs changed"
