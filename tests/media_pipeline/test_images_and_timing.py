from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from media_pipeline.backends.errors import PermanentError
from media_pipeline.backends.images import ImageRequest
from media_pipeline.backends.images.png import verify_png
from media_pipeline.backends.images.titlecard import TitleCardRenderer
from media_pipeline.stages.compose import STILL_FPS as FPS
from media_pipeline.stages.compose import Entry, scene_frames, still_concat_list, still_timeline


def _request(**changes: object) -> ImageRequest:
    base = {
        "prompt": "A swarm of bees, soft light",
        "negative_prompt": "text, watermark",
        "width": 1920,
        "height": 1080,
        "seed": 1234,
        "headline": "Scouts dance for the best site.",
        "caption": "Bees · 1/3",
    }
    return ImageRequest(**{**base, **changes})  # type: ignore[arg-type]


def test_title_cards_are_full_hd_pngs() -> None:
    result = TitleCardRenderer().generate(_request())
    with Image.open(io.BytesIO(result.png)) as image:
        assert (image.format, image.size) == ("PNG", (1920, 1080))
    assert verify_png(result.png) == (1920, 1080) and result.seed == 1234


def test_title_cards_are_deterministic_and_differ_between_prompts() -> None:
    renderer = TitleCardRenderer()
    assert renderer.generate(_request()).png == renderer.generate(_request()).png
    assert renderer.generate(_request()).png != renderer.generate(_request(prompt="Neurons firing")).png


def test_title_cards_render_vertical_sizes_too() -> None:
    result = TitleCardRenderer().generate(_request(width=1080, height=1920, headline="word " * 80))
    assert verify_png(result.png) == (1080, 1920)


def test_bytes_that_are_not_a_png_are_refused() -> None:
    with pytest.raises(PermanentError, match="not a valid image"):
        verify_png(b"<html>502 Bad Gateway</html>")
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="JPEG")
    with pytest.raises(PermanentError, match="not PNG"):
        verify_png(buffer.getvalue())


@settings(max_examples=300, deadline=None)
@given(
    gaps=st.lists(st.floats(min_value=0.0, max_value=20.0), min_size=1, max_size=60),
    tail=st.floats(min_value=0.0, max_value=10.0),
)
def test_scene_frames_cover_the_audio_exactly_in_order(gaps: list[float], tail: float) -> None:
    starts = []
    t = 0.0
    for gap in gaps:
        t += gap
        starts.append(t)
    duration = t + tail
    frames = scene_frames(starts, duration)
    assert len(frames) == len(starts) and all(f >= 1 for f in frames)
    assert sum(frames) == max(round(duration * FPS), len(starts))
    # Each boundary is the frame nearest the scene's start, moved only as far as needed to keep every
    # scene at least one frame (after the previous boundary, and leaving one for each scene after it).
    total = sum(frames)
    edges = [sum(frames[:i]) for i in range(len(frames))]
    for i in range(1, len(starts)):
        nearest = round(starts[i] * FPS)
        assert edges[i] == min(max(nearest, edges[i - 1] + 1), total - (len(starts) - i))


def test_the_concat_list_names_only_generated_files_one_entry_per_image() -> None:
    entries = still_timeline([75, 10], cuts=[30])
    assert entries == [Entry(0, 30), Entry(0, 45), Entry(1, 9), Entry(1, 1)]
    listing = still_concat_list(["scene00000.png", "scene00001.png"], entries)
    assert listing.splitlines() == [
        "ffconcat version 1.0",
        "file scene00000.png", "duration 1.200000", "file scene00000.png", "duration 1.800000",
        "file scene00001.png", "duration 0.360000", "file scene00001.png", "duration 0.040000",
    ]  # fmt: skip
