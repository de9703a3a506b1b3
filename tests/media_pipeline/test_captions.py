from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from media_pipeline.stages.captions import (
    MAX_CUE_SECONDS,
    MAX_LINE_CHARS,
    MAX_LINES,
    build_chapters,
    build_cues,
    to_srt,
    to_vtt,
)


@st.composite
def words(draw: st.DrawFn) -> list[tuple[float, float, str]]:
    out, t = [], 0.0
    for _ in range(draw(st.integers(min_value=0, max_value=150))):
        t += draw(st.floats(min_value=0, max_value=0.8))
        length = draw(st.floats(min_value=0.05, max_value=1.2))
        out.append(
            (
                t,
                t + length,
                draw(st.text(alphabet="abcdefghij", min_size=1, max_size=14)) + draw(st.sampled_from(["", ".", ","])),
            )
        )
        t += length
    return out


@settings(max_examples=200, deadline=None)
@given(words=words())
def test_it_keeps_cues_within_two_lines_of_42_characters_and_7_seconds_without_overlap(
    words: list[tuple[float, float, str]],
) -> None:
    cues = build_cues(words)
    assert " ".join(line for c in cues for line in c.lines).split() == [w[2] for w in words]
    for cue in cues:
        assert len(cue.lines) <= MAX_LINES
        assert all(len(line) <= MAX_LINE_CHARS for line in cue.lines)
        assert cue.end - cue.start <= MAX_CUE_SECONDS + 1e-9
    for a, b in itertools.pairwise(cues):
        assert a.end <= b.start


def test_it_writes_srt_and_webvtt_timestamps() -> None:
    cues = build_cues([(0.0, 0.5, "Hello"), (0.5, 1.25, "world."), (3661.5, 3662.0, "Later <b>")])
    srt = to_srt(cues)
    assert srt.startswith("1\n00:00:00,000 --> 00:00:01,250\nHello world.\n\n2\n01:01:01,500 --> 01:01:02,000\n")
    vtt = to_vtt(cues)
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.250\nHello world.")
    assert "Later &lt;b&gt;" in vtt


def test_it_makes_chapters_from_0_00_each_at_least_10_seconds() -> None:
    scenes = [
        (0.0, "Intro"),
        (4.0, "Too soon"),
        (12.5, "Scouts dance."),
        (19.0, "Soon again"),
        (30.0, "The vote"),
        (55.0, "Tail"),
    ]
    chapters = build_chapters(scenes, duration=60.0)
    assert [c.title for c in chapters] == ["Intro", "Scouts dance", "The vote"]
    assert [(c.timestamp, c.title) for c in chapters] == [
        ("0:00", "Intro"),
        ("0:12", "Scouts dance"),
        ("0:30", "The vote"),
    ]
