"""What a player shows at a given time in a rendered video (works for variable frame rate)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np


def shown_at(video: Path, at: float, size: tuple[int, int] = (64, 36)) -> np.ndarray:
    """The picture a player shows at `at` s: ffprobe seeks there (to the frame covering it), ffmpeg decodes it."""
    listing = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-read_intervals", f"{at:.3f}%+3",
         "-show_entries", "frame=pts_time", "-of", "json", str(video)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    # ffprobe seeks to the keyframe at or before `at` and decodes from there; the frame shown is the last
    # one that starts by `at`.
    starts = [float(f["pts_time"]) for f in json.loads(listing)["frames"]]
    assert starts and starts[0] <= at + 1e-3, f"seeking to {at} s gave frames from {starts[:1]} s"
    pts = max(p for p in starts if p <= at + 1e-3)
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", f"{max(pts - 0.001, 0):.3f}", "-i", str(video), "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{size[0]}x{size[1]}", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype=np.uint8).reshape(size[1], size[0], 3).astype(np.int16)
