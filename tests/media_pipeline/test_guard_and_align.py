from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media_pipeline.backends import whisper
from media_pipeline.backends.asr import SegmentResult, TranscriptResult, WordResult
from media_pipeline.models import Segment, Transcription, Word
from media_pipeline.stages.align import HeardWord, align_to_script, script_tokens, word_error_rate
from media_pipeline.stages.guard import hallucination, repeated_phrase
from media_pipeline.stages.pieces import FRAME_SECONDS, plan_pieces
from projects.models import Project
from tests.conftest import JFK, make_audio_paper, run_inline

LOOP = "What if you had a team of people who were able to make a smart computer?"


def _segment(start: float, end: float, text: str, **fields: Any) -> SegmentResult:
    words = text.split()
    step = (end - start) / max(len(words), 1)
    return SegmentResult(
        start=start,
        end=end,
        text=text,
        tokens=[1, 2, 3],
        temperature=0.0,
        avg_logprob=fields.get("avg_logprob", -0.2),
        compression_ratio=fields.get("compression_ratio", 1.3),
        no_speech_prob=fields.get("no_speech_prob", 0.05),
        confidence=0.9,
        words=[WordResult(start + i * step, start + (i + 1) * step, w, 0.9) for i, w in enumerate(words)],
    )


def test_it_recognises_the_seed_blogs_repetition_loop() -> None:
    looped = _segment(0, 31, " ".join([LOOP] * 4), compression_ratio=None)
    reason = hallucination(looped, duration=60)
    assert reason is not None and "repetition loop" in reason
    assert repeated_phrase(" ".join([LOOP] * 4)) == (LOOP.lower().rstrip("?"), 4)
    assert hallucination(_segment(0, 5, "Bees dance. Bees dance to vote on a home."), duration=60) is None


def test_it_recognises_speech_over_silence_and_text_past_the_end() -> None:
    silent = _segment(10, 12, "Thank you.", no_speech_prob=0.9, avg_logprob=-1.4)
    assert "no speech" in (hallucination(silent, duration=60) or "")
    assert hallucination(_segment(10, 12, "Thank you.", no_speech_prob=0.9, avg_logprob=-0.3), duration=60) is None
    assert "after the end" in (hallucination(_segment(61, 63, "Subscribe!"), duration=60) or "")


@pytest.fixture
def crafted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine returns a crafted result: real speech, a repetition loop, speech over silence, text past the end."""

    def fake(audio: np.ndarray, options: Any) -> TranscriptResult:
        return TranscriptResult(
            language="en",
            text="",
            segments=[
                _segment(0.2, 3.0, "And so my fellow Americans"),
                _segment(3.0, 7.0, " ".join(["ask not"] * 6), compression_ratio=3.1),
                _segment(7.0, 9.0, "Thank you for watching.", no_speech_prob=0.92, avg_logprob=-1.6),
                _segment(9.0, 10.8, "ask what you can do"),
                _segment(11.5, 14.0, "Please subscribe."),
            ],
        )

    monkeypatch.setattr(whisper, "transcribe", fake)


@pytest.mark.django_db(transaction=True)
def test_a_crafted_result_is_cleaned_by_dropping(project: Project, crafted: None, settings: Any) -> None:
    settings.PAPERCAST_HALLUCINATIONS = "drop"
    paper = make_audio_paper(project, JFK)
    run_inline(paper, until="transcribe")
    transcription = Transcription.objects.get(paper=paper)
    assert transcription.text == "And so my fellow Americans ask what you can do"
    dropped = list(Segment.objects.filter(transcription=transcription, dropped=True).order_by("index"))
    assert [s.index for s in dropped] == [1, 2, 4]
    assert (
        "repetition loop" in dropped[0].flag and "no speech" in dropped[1].flag and "after the end" in dropped[2].flag
    )
    assert not Word.objects.filter(segment__dropped=True).exists()


@pytest.mark.django_db(transaction=True)
def test_a_crafted_result_is_kept_but_flagged_when_asked(project: Project, crafted: None, settings: Any) -> None:
    settings.PAPERCAST_HALLUCINATIONS = "flag"
    paper = make_audio_paper(project, JFK)
    run_inline(paper, until="transcribe")
    transcription = Transcription.objects.get(paper=paper)
    flagged = Segment.objects.filter(transcription=transcription).exclude(flag="")
    assert flagged.count() == 3 and not flagged.filter(dropped=True).exists()
    assert "ask not ask not" in transcription.text


def test_alignment_keeps_the_scripts_words_with_the_heard_timings() -> None:
    script = "The swarm — guided by 300 scouts — picks a cavity, e.g. a hollow tree."
    heard_text = [
        "the",
        "swarm",
        "guided",
        "by",
        "three",
        "hundred",
        "scouts",
        "picks",
        "cavity",
        "eg",
        "a",
        "hollow",
        "tree",
    ]
    heard = [HeardWord(i * 0.5, i * 0.5 + 0.4, w, 0.8, 0 if i < 7 else 1) for i, w in enumerate(heard_text)]
    aligned, wer = align_to_script(script, heard)
    assert [a.text for a in aligned] == script_tokens(script)
    assert " ".join(a.text for a in aligned) == " ".join(script.split())
    swarm = aligned[1]
    assert (swarm.text, swarm.start, swarm.end, swarm.recognized) == ("swarm —", 0.5, 0.9, "swarm")
    three_hundred = aligned[4]
    assert three_hundred.text == "300" and three_hundred.recognized == "three hundred"
    assert (three_hundred.start, three_hundred.end) == (2.0, 2.9)
    starts = [a.start for a in aligned]
    assert starts == sorted(starts) and all(a.start <= a.end for a in aligned)
    assert wer == pytest.approx(word_error_rate(heard_text, script_tokens(script)))
    assert 0 < wer < 0.5


def test_word_error_rate_counts_substitutions_insertions_and_deletions() -> None:
    assert word_error_rate(["a", "b", "c"], ["a", "b", "c"]) == 0
    assert word_error_rate(["a", "x", "c", "d"], ["a", "b", "c"]) == pytest.approx(2 / 3)
    assert word_error_rate(["A,", "b."], ["a", "b"]) == 0  # case and punctuation do not count


@st.composite
def recordings(draw: st.DrawFn) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Bursts of tone separated by silences; returns samples and the silent ranges."""
    rate = 1000  # a low rate keeps examples small; the planner works in frames
    parts, silences, at = [], [], 0
    for _ in range(draw(st.integers(min_value=1, max_value=30))):
        speech = int(draw(st.floats(min_value=0.5, max_value=20)) * rate)
        pause = int(draw(st.floats(min_value=0.0, max_value=2.0)) * rate)
        t = np.arange(speech)
        parts.append((np.sin(t * 0.3) * 8000).astype(np.int16))
        parts.append(np.zeros(pause, dtype=np.int16))
        at += speech
        silences.append((at, at + pause))
        at += pause
    return np.concatenate(parts), silences


@settings(max_examples=150, deadline=None)
@given(recording=recordings(), max_seconds=st.floats(min_value=5, max_value=60))
def test_pieces_cover_every_sample_once_within_the_limit_and_cut_in_pauses(
    recording: tuple[np.ndarray, list[tuple[int, int]]], max_seconds: float
) -> None:
    samples, silences = recording
    rate = 1000
    pieces = plan_pieces(samples, rate, max_seconds)
    assert pieces[0][0] == 0 and pieces[-1][1] == len(samples)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(pieces))
    assert all(end - start <= max_seconds * rate for start, end in pieces)
    frame = int(rate * FRAME_SECONDS)
    long_pauses = [(a, b) for a, b in silences if b - a >= 0.3 * rate]
    for _, cut in pieces[:-1]:
        window_has_pause = any(a + frame <= cut <= b - frame for a, b in long_pauses)
        lands_in_any_pause = any(a <= cut <= b for a, b in silences)
        # A cut is in a pause whenever one was available; a forced cut only happens without one.
        assert lands_in_any_pause or not window_has_pause


@settings(max_examples=300, deadline=None)
@given(
    heard=st.lists(st.sampled_from(["bees", "dance", "swarm", "hive", "queen", "vote"]), min_size=1, max_size=30),
    script=st.lists(
        st.sampled_from(["bees", "dance", "swarm", "nest", "scouts", "3", "vote,"]), min_size=1, max_size=30
    ),
    steps=st.lists(st.floats(min_value=0.01, max_value=0.7), min_size=60, max_size=60),
)
def test_aligned_words_never_overlap_and_follow_the_script(
    heard: list[str], script: list[str], steps: list[float]
) -> None:
    words, t = [], 0.1
    for i, text in enumerate(heard):
        words.append(HeardWord(t, t + steps[i], text, 0.9, 0))
        t += steps[i] + steps[-1 - i] / 3
    aligned, _ = align_to_script(" ".join(script), words)
    assert [a.text for a in aligned] == script_tokens(" ".join(script))
    assert all(a.start <= a.end for a in aligned)
    assert all(a.end <= b.start for a, b in itertools.pairwise(aligned))


def test_words_sharing_a_span_end_exactly_where_the_next_word_starts() -> None:
    # Summing two steps of (0.26 - 0.07) / 2 from 0.07 gives 0.26000000000000006: it would overlap "dance".
    heard = [HeardWord(0.07, 0.26, "mumble", 0.5, 0), HeardWord(0.26, 1.0, "dance", 0.9, 0)]
    aligned, _ = align_to_script("abc xyz dance", heard)
    assert [a.text for a in aligned] == ["abc", "xyz", "dance"]
    assert aligned[1].end == 0.26 == aligned[2].start
