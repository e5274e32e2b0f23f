"""Tests for nnbook.animation: the boundary animation is one animated PNG, and its player."""

import io

import pytest
import torch
from PIL import Image

from nnbook.animation import AnimatedPNG, boundary_animation, frame_count, player_html
from nnbook.grids import Grid
from nnbook.style import CSS_PX_PER_INCH


def stripes(n_snapshots: int = 3) -> Grid:
    """(S, ny, nx) class grids whose boundary moves right from one snapshot to the next."""
    x = torch.linspace(0, 16, 40)
    y = torch.linspace(0, 9, 20)
    values = torch.stack([(x > 4 + 3 * s).long().expand(len(y), -1) for s in range(n_snapshots)])
    return Grid(x, y, values)


def frames_of(data: bytes) -> list[Image.Image]:
    with Image.open(io.BytesIO(data)) as image:
        frames = []
        for i in range(image.n_frames):
            image.seek(i)
            frames.append((image.convert("RGB"), image.info.get("duration")))
    return frames


def test_one_frame_per_snapshot_with_its_timing():
    """Every snapshot is one frame; the last one is held longer; the PNG loops."""
    animation = boundary_animation(
        stripes(3), [0, 10, 20], frame_ms=100, hold_ms=900, figsize=(3, 2), dpi=72
    )
    assert animation.n_frames == frame_count(animation.data) == 3
    durations = [duration for _, duration in frames_of(animation.data)]
    assert durations == [100, 100, 900]
    with Image.open(io.BytesIO(animation.data)) as image:
        assert image.info.get("loop") == 0, "the animation does not loop"


def test_frames_differ_and_are_drawn_on_white():
    """The frames show different boundaries, on an exactly white background."""
    animation = boundary_animation(stripes(2), [0, 1], figsize=(3, 2), dpi=72)
    (first, _), (second, _) = frames_of(animation.data)
    assert first.size == second.size == (3 * 72, 2 * 72)
    assert first.getpixel((1, 1)) == (255, 255, 255)
    assert first.tobytes() != second.tobytes(), "two snapshots gave the same frame"


def test_width_is_the_display_width_in_css_px():
    """The image is shown at 96 CSS px per inch of the figure, whatever its DPI."""
    animation = boundary_animation(stripes(2), [0, 1], figsize=(3, 2), dpi=144)
    data, metadata = animation._repr_png_()
    assert data == animation.data
    assert metadata == {"width": round(3 * CSS_PX_PER_INCH)}


def test_titles_and_background_are_used():
    """A background callback runs once; custom titles are accepted, one per frame."""
    calls = []
    boundary_animation(
        stripes(2), [0, 1], background=calls.append, titles=["a", "b"], figsize=(3, 2), dpi=72
    )
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"epochs": [0, 1]}, ValueError, "got 2 epochs for 3 snapshot grids"),
        ({"titles": ["only one"]}, ValueError, "got 1 titles for 3 frames"),
        ({"frame_ms": 0}, ValueError, "frame_ms"),
        ({"hold_ms": 1.5}, TypeError, "hold_ms"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, message):
    """Mismatched epochs or titles and non-positive timings fail with a clear message."""
    arguments = {"grids": stripes(3), "epochs": [0, 1, 2], "figsize": (3, 2), "dpi": 72} | kwargs
    with pytest.raises(error, match=message):
        boundary_animation(**arguments)


def test_grids_must_be_a_stack_of_class_grids():
    """A single (ny, nx) grid is not a sequence of snapshots."""
    grid = stripes(1)
    with pytest.raises(ValueError, match=r"\(S, ny, nx\)"):
        boundary_animation(Grid(grid.x, grid.y, grid.values[0]), [0])


def test_animated_png_refuses_other_bytes():
    """AnimatedPNG holds PNG bytes only."""
    with pytest.raises(ValueError, match="PNG"):
        AnimatedPNG(b"GIF89a", width=100, n_frames=2)
    assert repr(AnimatedPNG(b"\x89PNG....", width=100, n_frames=2)) == "<animated PNG: 2 frames>"


def test_player_is_hidden_until_its_script_runs():
    """The player names its figure and itself, and shows nothing where scripts do not run."""
    html = player_html("fig-ch5-animation", 'The "boundary" <player>')
    assert '<div class="animation" role="group"' in html
    assert 'data-figure="fig-ch5-animation"' in html
    assert 'aria-label="The &quot;boundary&quot; &lt;player&gt;"' in html
    assert " hidden></div>" in html
    assert "<script>" in html and "http" not in html, "the player must not load anything"
    for label in ["First frame", "Previous frame", "Play", "Next frame", "Last frame", "Frame"]:
        assert f'"{label}"' in html, f"the player has no control labelled {label!r}"


@pytest.mark.parametrize(("figure", "label"), [("", "a player"), ("fig-x", "")])
def test_player_needs_a_figure_and_a_label(figure, label):
    """Without the figure's name or an accessible label there is no player."""
    with pytest.raises(ValueError, match="figure's name and a label"):
        player_html(figure, label)
