"""Cutting long audio into pieces at silences, so each piece can be transcribed on its own.

A cut is placed in the middle of a pause, so no word is split between two pieces; piece offsets are whole
samples, so timings shift back exactly. Levels are computed block by block over a memory-mapped file, so
a two-hour recording never has to be in memory at once.
"""

from __future__ import annotations

import numpy as np

FRAME_SECONDS = 0.02
MIN_PAUSE_SECONDS = 0.25
BLOCK_FRAMES = 3000  # 60 s of frames per block
FLOOR_DB = -120.0


def frame_levels(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Level in dBFS of each 20 ms frame of int16 samples."""
    frame = int(sample_rate * FRAME_SECONDS)
    count = len(samples) // frame
    levels = np.empty(count, dtype=np.float32)
    for first in range(0, count, BLOCK_FRAMES):
        last = min(first + BLOCK_FRAMES, count)
        block = np.asarray(samples[first * frame : last * frame], dtype=np.float32).reshape(-1, frame) / 32768.0
        rms = np.sqrt(np.mean(block * block, axis=1))
        levels[first:last] = 20 * np.log10(np.maximum(rms, 10 ** (FLOOR_DB / 20)))
    return levels


def silence_threshold(levels: np.ndarray) -> float:
    """Quieter than this is a pause: 15 dB over the recording's noise floor, kept within -70..-30 dBFS."""
    if len(levels) == 0:
        return -70.0
    floor = float(np.percentile(levels, 5))
    return min(max(floor + 15.0, -70.0), -30.0)


def pauses(levels: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Runs of quiet frames at least MIN_PAUSE_SECONDS long, as (first, end) frame indexes."""
    quiet = np.concatenate([[False], levels < threshold, [False]])
    edges = np.flatnonzero(np.diff(quiet.astype(np.int8)))
    runs = edges.reshape(-1, 2)
    shortest = int(MIN_PAUSE_SECONDS / FRAME_SECONDS)
    return [(int(a), int(b)) for a, b in runs if b - a >= shortest]


def plan_pieces(samples: np.ndarray, sample_rate: int, max_seconds: float) -> list[tuple[int, int]]:
    """(start, end) sample ranges, in order, covering every sample once, each at most max_seconds long.

    Each cut is in the middle of the longest pause in the second half of the window; failing that, of
    any pause in the window; failing that (no pause at all), at the quietest frame of its second half.
    """
    total = len(samples)
    limit = int(max_seconds * sample_rate)
    if total <= limit:
        return [(0, total)]
    frame = int(sample_rate * FRAME_SECONDS)
    levels = frame_levels(samples, sample_rate)
    runs = pauses(levels, silence_threshold(levels))
    window = limit // frame
    pieces: list[tuple[int, int]] = []
    start = 0  # in frames
    while total - start * frame > limit:
        end = start + window
        middle = start + window // 2

        def mid(run: tuple[int, int]) -> int:
            return (run[0] + run[1]) // 2

        late = [r for r in runs if middle < mid(r) < end]
        anywhere = [r for r in runs if start < mid(r) < end]
        candidates = late or anywhere
        if candidates:
            best = max(candidates, key=lambda r: (min(r[1], end) - max(r[0], start), r[0]))
            cut = mid(best)
        else:
            cut = middle + int(np.argmin(levels[middle:end]))
        cut = max(cut, start + 1)
        pieces.append((start * frame, cut * frame))
        start = cut
    pieces.append((start * frame, total))
    return pieces
