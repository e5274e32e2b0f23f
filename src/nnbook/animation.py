"""The decision boundary across training as one animated PNG, and the book's player for it.

An animated PNG (APNG) is an ordinary image: a notebook shows it, trusted or not, with no
JavaScript and nothing fetched from the network, and the book writes it to one image file
instead of inlining dozens of frames in the page. `player_html` adds, in the book, a player
with labelled controls (first, previous, play or pause, next, last, and a slider); it decodes
the frames of that same file in the browser, and where it cannot (a browser without
`ImageDecoder`, or a page opened from the file system) the image simply plays on its own.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from PIL import Image

from nnbook._checks import positive_int
from nnbook.grids import Grid
from nnbook.plotting import plot_class_boundaries
from nnbook.style import CSS_PX_PER_INCH, FIGSIZE, PALETTE

__all__ = ["AnimatedPNG", "boundary_animation", "frame_count", "player_html"]


class AnimatedPNG:
    """APNG bytes that IPython displays as an image `width` CSS px wide."""

    def __init__(self, data: bytes, width: int, n_frames: int):
        if not data.startswith(b"\x89PNG"):
            raise ValueError("data must be the bytes of a PNG file")
        self.data = data
        self.width = positive_int("width", width)
        self.n_frames = positive_int("n_frames", n_frames)

    def _repr_png_(self) -> tuple[bytes, dict[str, int]]:
        return self.data, {"width": self.width}

    def __repr__(self) -> str:
        return f"<animated PNG: {self.n_frames} frames>"


def _render_frames(
    grids: Grid,
    titles: Sequence[str],
    background: Callable[[Axes], object] | None,
    color: str,
    figsize: tuple[float, float],
    dpi: int,
) -> list[Image.Image]:
    """One RGB image per (ny, nx) slice of `grids`: its class boundaries on the background."""
    fig, ax = plt.subplots(figsize=figsize, dpi=dpi)
    if background is not None:
        background(ax)
    ax.set_xlabel(r"$x_1$")
    ax.set_ylabel(r"$x_2$")
    ax.set_title(titles[0])
    fig.tight_layout()  # once, so that every frame has the same layout and size
    frames = []
    for classes, title in zip(grids.values, titles, strict=True):
        before = set(ax.collections)
        plot_class_boundaries(Grid(grids.x, grids.y, classes), ax=ax, colors=color, linewidths=2)
        ax.set_title(title)
        buffer = io.BytesIO()
        # "standard": the whole figure, never cropped to its content, so all frames match
        with mpl.rc_context({"savefig.bbox": "standard"}):
            fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
        frames.append(Image.open(buffer).convert("RGB"))
        for artist in set(ax.collections) - before:
            artist.remove()
    plt.close(fig)
    return frames


def _to_palette(frames: list[Image.Image], colors: int) -> list[Image.Image]:
    """The frames as palette images sharing one palette of `colors` colours, white exact.

    Line art needs few colours, and one palette keeps the animated PNG small (Pillow stores
    each frame as the rectangle where it differs from the one before).
    """
    common = frames[-1].quantize(colors=colors - 1).getpalette() or []
    palette = np.array(common[: 3 * (colors - 1)])
    palette = np.vstack([[255, 255, 255], palette.reshape(-1, 3)]).astype(np.int64)  # (C, 3)
    indexed = []
    for frame in frames:
        pixels = np.asarray(frame, dtype=np.int64)  # (H, W, 3)
        codes = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]  # (H, W)
        unique, inverse = np.unique(codes, return_inverse=True)
        rgb = np.stack([unique >> 16, (unique >> 8) & 255, unique & 255], axis=1)  # (U, 3)
        nearest = ((rgb[:, None, :] - palette[None]) ** 2).sum(axis=2).argmin(axis=1)
        image = Image.fromarray(nearest[inverse].reshape(codes.shape).astype(np.uint8))
        image.putpalette(palette.astype(np.uint8).ravel().tolist())
        indexed.append(image)
    return indexed


def boundary_animation(
    grids: Grid,
    epochs: Sequence[float],
    background: Callable[[Axes], object] | None = None,
    titles: Sequence[str] | None = None,
    color: str = PALETTE["model"],
    frame_ms: int = 150,
    hold_ms: int = 1500,
    figsize: tuple[float, float] = FIGSIZE,
    dpi: int = 120,
) -> AnimatedPNG:
    """An animated PNG of the class boundaries, one frame per snapshot, looping.

    Takes precomputed (S, ny, nx) class grids, as `nnbook.grids.snapshot_grids(...,
    output="class")` returns them; `background(ax)` draws what stays (e.g. the centerlines);
    `titles[i]` (default: "epoch <e>") titles frame i. Each frame shows for `frame_ms`, the
    last one for `hold_ms` before the loop starts again. The frames are drawn at `dpi`, a
    little below the book's figures (`nnbook.plotting.DPI`) to keep the file light; they are
    shown at the same size, so their fonts are as large.
    """
    values = np.asarray(grids.values)
    if values.ndim != 3:
        raise ValueError(f"grids must hold (S, ny, nx) class labels, got shape {values.shape}")
    if len(epochs) != values.shape[0]:
        raise ValueError(f"got {len(epochs)} epochs for {values.shape[0]} snapshot grids")
    titles = [f"epoch {e:g}" for e in epochs] if titles is None else list(titles)
    if len(titles) != len(epochs):
        raise ValueError(f"got {len(titles)} titles for {len(epochs)} frames")
    frame_ms, hold_ms = positive_int("frame_ms", frame_ms), positive_int("hold_ms", hold_ms)
    frames = _render_frames(grids, titles, background, color, figsize, positive_int("dpi", dpi))
    indexed = _to_palette(frames, colors=32)
    buffer = io.BytesIO()
    indexed[0].save(
        buffer,
        format="PNG",
        save_all=True,
        append_images=indexed[1:],
        duration=[frame_ms] * (len(frames) - 1) + [hold_ms],
        loop=0,
        optimize=True,
    )
    width = round(frames[0].width * CSS_PX_PER_INCH / dpi)
    return AnimatedPNG(buffer.getvalue(), width=width, n_frames=len(frames))


_PLAYER_SCRIPT = """
(function () {
  var player = document.currentScript.previousElementSibling;
  var figure = document.getElementById(player.dataset.figure);
  var image = figure && figure.querySelector("img");
  if (!image || !("ImageDecoder" in window)) return;  // the image plays on its own
  function button(text, label) {
    var b = document.createElement("button");
    b.type = "button"; b.textContent = text; b.title = label;
    b.className = "btn btn-sm btn-outline-secondary";
    b.setAttribute("aria-label", label);
    buttons.appendChild(b);
    return b;
  }
  // The controls are built at once and shown when the frames are decoded.
  var shown = document.createElement("img");
  shown.alt = image.alt; shown.className = image.className; shown.src = image.src;
  if (image.hasAttribute("width")) shown.setAttribute("width", image.getAttribute("width"));
  shown.style.cssText = image.style.cssText;  // the display width the book gives the image
  var buttons = document.createElement("div");
  buttons.className = "anim-buttons";
  var first = button("First", "First frame"), previous = button("Previous", "Previous frame");
  var play = button("Play", "Play"), next = button("Next", "Next frame");
  var last = button("Last", "Last frame");
  var slider = document.createElement("input");
  slider.type = "range"; slider.className = "anim-slider"; slider.min = 0; slider.value = 0;
  slider.setAttribute("aria-label", "Frame");
  var status = document.createElement("span");
  status.className = "anim-status";
  status.style.marginLeft = "0.5em";
  player.append(shown, buttons, slider, status);
  // Sphinx may wrap the image in a link to the file: the player goes before the link.
  var target = image.closest("a") || image;
  target.parentNode.insertBefore(player, target);
  var frames = [], index = 0, timer = null;
  function show(i) {
    index = (i + frames.length) % frames.length;
    shown.src = frames[index].url; slider.value = index;
    status.textContent = "frame " + (index + 1) + " of " + frames.length;
    slider.setAttribute("aria-valuetext", status.textContent);
  }
  function stop() {
    clearTimeout(timer); timer = null;
    play.textContent = play.title = "Play"; play.setAttribute("aria-label", "Play");
  }
  function tick() {
    show(index + 1);
    timer = setTimeout(tick, frames[index].ms);
  }
  play.addEventListener("click", function () {
    if (timer) { stop(); return; }
    play.textContent = play.title = "Pause"; play.setAttribute("aria-label", "Pause");
    timer = setTimeout(tick, frames[index].ms);
  });
  first.addEventListener("click", function () { stop(); show(0); });
  last.addEventListener("click", function () { stop(); show(frames.length - 1); });
  previous.addEventListener("click", function () { stop(); show(index - 1); });
  next.addEventListener("click", function () { stop(); show(index + 1); });
  slider.addEventListener("input", function () { stop(); show(Number(slider.value)); });
  async function decode() {
    var data = await (await fetch(image.src)).arrayBuffer();
    var decoder = new ImageDecoder({data: data, type: "image/png"});
    await decoder.tracks.ready;
    var count = decoder.tracks.selectedTrack.frameCount;
    var canvas = document.createElement("canvas");
    for (var i = 0; i < count; i++) {
      var frame = (await decoder.decode({frameIndex: i})).image;
      canvas.width = frame.displayWidth; canvas.height = frame.displayHeight;
      canvas.getContext("2d").drawImage(frame, 0, 0);
      var blob = await new Promise(function (done) { canvas.toBlob(done, "image/png"); });
      frames.push({url: URL.createObjectURL(blob), ms: (frame.duration || 150000) / 1000});
      frame.close();
    }
    decoder.close();
  }
  decode().then(function () {
    if (frames.length < 2) throw new Error("not an animation");
    slider.max = frames.length - 1;
    show(0);
    target.hidden = true;
    player.hidden = false;
  }).catch(function () { player.remove(); });  // e.g. a page opened from disk: the image plays
})();
"""


def player_html(figure: str, label: str) -> str:
    """The book's player for the animated PNG of the figure named `figure` (its HTML id).

    Hidden until its script has decoded the frames, so that where scripts do not run (an
    untrusted notebook) nothing but the animated image shows. `label` names the player for
    assistive technology.
    """
    if not figure or not label:
        raise ValueError("player_html needs the figure's name and a label")
    attributes = f'data-figure="{html.escape(figure)}" aria-label="{html.escape(label)}"'
    return (
        f'<div class="animation" role="group" {attributes} hidden></div>\n'
        f"<script>{_PLAYER_SCRIPT.strip()}</script>"
    )


def frame_count(data: bytes) -> int:
    """How many frames an (animated) PNG holds."""
    with Image.open(io.BytesIO(data)) as image:
        return int(getattr(image, "n_frames", 1))
