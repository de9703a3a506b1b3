from __future__ import annotations

import io
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from media_pipeline.backends import ffmpeg
from media_pipeline.stages.render import top_level_boxes
from projects import services
from tests.frames import shown_at

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TEXT = """Honeybee swarms choose a new home by voting. Scouts fly out, find cavities, and return to dance.

The better the site, the longer the dance. Support for poor sites fades, while support for good sites grows.

When enough scouts gather at one site, the whole swarm takes flight together."""


def _frame(video: Path, at: float, size: tuple[int, int]) -> np.ndarray:
    return shown_at(video, at, size)


def _picture(path: str, size: tuple[int, int]) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB").resize(size, Image.Resampling.BILINEAR)).astype(np.int16)


def _makevideo(*args: str) -> dict[str, Any]:
    out, err = io.StringIO(), io.StringIO()
    call_command("makevideo", *args, "--json", stdout=out, stderr=err)
    return json.loads(out.getvalue())


def test_makevideo_turns_text_into_a_youtube_ready_video(tmp_dir: Path, users: Any) -> None:
    services.project_create(
        name="E2E", slug="e2e", owner=users["alice"], video_width=640, video_height=360, max_scene_seconds=6.0
    )
    source = tmp_dir / "swarm-votes.txt"
    source.write_text(TEXT)
    report = _makevideo("--text", str(source), "--project", "e2e")

    assert set(report) >= {
        "paper",
        "stages",
        "audio",
        "duration",
        "transcript",
        "scenes",
        "video",
        "captions",
        "chapters",
    }
    assert [s for s, info in report["stages"].items() if info["status"] != "succeeded"] == []
    assert list(report["stages"]) == ["narrate", "transcribe", "chunk", "summarize", "illustrate", "render"]
    assert "honeybee" in report["transcript"]["text"].lower() or "honey bee" in report["transcript"]["text"].lower()
    words = report["transcript"]["words"]
    assert all(w[0] <= w[1] for w in words) and all(a[1] <= b[0] for a, b in itertools.pairwise(words))

    video = Path(report["video"])
    probe = ffmpeg.probe_video(video)
    assert (probe.video_codec, probe.video_profile, probe.pix_fmt) == ("h264", "High", "yuv420p")
    assert (probe.audio_codec, probe.audio_sample_rate) == ("aac", 48000)
    assert (probe.width, probe.height) == (640, 360)
    for seconds in (probe.duration, probe.video_duration, probe.audio_duration):
        assert seconds is not None and abs(seconds - report["duration"]) <= 0.1
    boxes = top_level_boxes(video)
    assert boxes.index("moov") < boxes.index("mdat")

    scenes = report["scenes"]
    assert len(scenes) >= 3
    size = (160, 90)
    pictures = [_picture(s["image"], size) for s in scenes]
    for i, scene in enumerate(scenes):
        shown_from = 0.0 if i == 0 else scene["start"]
        shown_until = scenes[i + 1]["start"] if i + 1 < len(scenes) else report["duration"]
        frame = _frame(video, (shown_from + shown_until) / 2, size)
        distances = [float(np.abs(frame - picture).mean()) for picture in pictures]
        assert distances[i] < 12, f"scene {i}: the frame differs from its image by {distances[i]:.1f}"
        assert distances[i] == min(distances), f"scene {i}: the frame looks more like another scene's image"
        assert scene["summary"] and scene["image_prompt"]

    srt = Path(report["captions"]["srt"]).read_text()
    assert srt.startswith("1\n00:00:") and "-->" in srt
    assert Path(report["captions"]["vtt"]).read_text().startswith("WEBVTT")
    chapters = report["chapters"]  # YouTube needs at least three; a short video gets none
    assert chapters == [] or (len(chapters) >= 3 and chapters[0]["timestamp"] == "0:00")

    # A second run is a no-op: nothing is redone and the same files come back.
    again = _makevideo("--paper", str(report["paper"]))
    assert again["video"] == report["video"]


def test_makevideo_exits_non_zero_with_the_stage_error(tmp_dir: Path) -> None:
    source = tmp_dir / "broken.txt"
    source.write_bytes(b"\xff\xfe not utf-8 \xff")
    with pytest.raises(CommandError, match=r"The narrate stage failed: The text file is not UTF-8"):
        call_command("makevideo", "--text", str(source), stdout=io.StringIO(), stderr=io.StringIO())


def test_the_demo_renders_the_bundled_sample_in_full_hd() -> None:
    out = io.StringIO()
    call_command("demo", stdout=out, stderr=io.StringIO())
    lines = dict(
        line.strip().split(":", 1) for line in out.getvalue().splitlines() if ":" in line and line.startswith("  ")
    )
    video = Path(lines["MP4"].strip())
    probe = ffmpeg.probe_video(video)
    assert (probe.width, probe.height, probe.video_codec, probe.audio_codec) == (1920, 1080, "h264", "aac")
    assert Path(lines["Captions"].strip()).read_text().strip()
    assert 30 < probe.duration < 120
