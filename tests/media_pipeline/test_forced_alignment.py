"""Forced alignment: papercast's own narration gets its word times from the words it knows it spoke.

The real engine (tiny.en through whisper-timestamped's model) aligns real piper narration; the window
packing and the repairs of what the attention gets wrong are checked on their own with stand-in engines.
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from media_pipeline import pipeline
from media_pipeline.backends import whisper
from media_pipeline.backends.asr import AsrOptions, SegmentResult, TranscriptResult, WordResult
from media_pipeline.models import RunStatus, Stage, StageRun, Transcription
from media_pipeline.selectors import sentence_hearing, spoken_script, transcription_current
from media_pipeline.stages import forced, transcribe
from media_pipeline.stages.align import script_tokens
from media_pipeline.stages.captions import build_cues
from projects.models import Project
from tests.conftest import JFK, make_audio_paper, make_text_paper, run_inline

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = (
    "Honey bees choose a new home by a kind of debate. Scouts search the countryside for cavities, return, "
    "and dance for the site they found; the better the site, the longer the dance.\n\n"
    "Support for poor sites fades quickly. Once enough scouts agree, the whole swarm takes off together."
)


def _words(transcription: Transcription) -> list[tuple[float, float, str]]:
    return list(transcription.words.order_by("index").values_list("start", "end", "text"))


def test_narration_is_aligned_not_recognised_and_each_word_stays_in_its_sentence(
    project: Project, count_calls: Callable[[str, Any, str], Counter[str]]
) -> None:
    calls = count_calls("recognise", whisper, "transcribe")
    count_calls("align", whisper, "align")
    paper = make_text_paper(project, TEXT)
    run_inline(paper)
    transcription = transcription_current(paper)
    assert transcription is not None and transcription.method == "align" and transcription.aligned_to_script
    assert calls["recognise"] == 0 and calls["align"] == 1  # the whole narration fits one 30 s window
    words = _words(transcription)
    assert [w for _, _, w in words] == script_tokens(spoken_script(paper))
    paper.refresh_from_db()
    spans = sorted(paper.narration_spans, key=lambda s: s["i"])
    position = 0
    for span, segment in zip(spans, transcription.segments.order_by("index"), strict=True):
        count = segment.words.count()
        for start, end, _ in words[position : position + count]:
            assert span["start"] - 1e-6 <= start <= end <= span["end"] + 1e-6
        position += count
    assert all(a[1] <= b[0] + 1e-6 for a, b in itertools.pairwise(words))  # in order, no overlap
    assert all(end - start >= 0.03 for start, end, _ in words), [w for w in words if w[1] - w[0] < 0.03]
    run = StageRun.objects.filter(paper=paper, stage=Stage.TRANSCRIBE).latest("created_at")
    assert run.metrics["method"] == "align" and run.metrics["windows"] == 1
    assert sentence_hearing(paper) == {}  # nothing was heard, so nothing is judged hard to follow

    # A re-run with the same narration makes no model call.
    run_inline(paper, until="transcribe")
    assert calls["recognise"] == 0 and calls["align"] == 1


def test_aligned_times_agree_with_recognised_ones_and_give_the_same_captions(project: Project) -> None:
    """The same narration timed both ways: word starts within a few tens of milliseconds on average, and
    caption cues that say the same words."""
    paper = make_text_paper(project, TEXT)
    run_inline(paper, until="transcribe")
    paper.refresh_from_db()
    aligned = transcription_current(paper)
    assert aligned is not None and aligned.method == "align"
    transcribe.run(paper, force=True, progress=lambda _: None, recognise=True)
    recognised = transcription_current(paper)
    assert recognised is not None and recognised.method == "recognise"
    a, r = _words(aligned), _words(recognised)
    assert [w for _, _, w in a] == [w for _, _, w in r]
    differences = [abs(x[0] - y[0]) for x, y in zip(a, r, strict=True)]
    assert statistics.mean(differences) < 0.12 and statistics.median(differences) < 0.08
    said = [" ".join(" ".join(c.lines) for c in build_cues(words)) for words in (a, r)]
    assert said[0] == said[1]


def test_a_recognition_on_demand_finds_hard_sentences_and_keeps_the_paper_current(project: Project) -> None:
    paper = make_text_paper(project, TEXT)
    run_inline(paper)
    with pytest.raises(pipeline.PipelineError, match="Uploaded audio"):
        pipeline.check_by_listening(make_audio_paper(project, JFK))
    with pipeline.inline():
        pipeline.check_by_listening(paper)
        pipeline.drain()
    transcription = transcription_current(paper)
    assert transcription is not None and transcription.method == "recognise" and transcription.script_wer is not None
    runs = StageRun.objects.filter(paper=paper, stage=Stage.TRANSCRIBE).order_by("created_at")
    assert [r.metrics.get("method") for r in runs] == ["align", "recognise"]
    assert all(r.status == RunStatus.SUCCEEDED for r in StageRun.objects.filter(paper=paper))
    # A recognition stands in for the alignment: nothing is stale, so a resume has nothing to do.
    assert pipeline.pipeline_start(paper) is None


def test_recognition_when_configured_and_for_uploaded_audio(project: Project, settings: Any) -> None:
    settings.PAPERCAST_NARRATION_TIMING = "recognise"
    paper = make_text_paper(project, "Scouts search for a new home. The swarm follows the best dancer.")
    run_inline(paper, until="transcribe")
    assert transcription_current(paper).method == "recognise"  # type: ignore[union-attr]
    settings.PAPERCAST_NARRATION_TIMING = "align"
    audio = make_audio_paper(project, JFK)
    run_inline(audio, until="transcribe")
    assert transcription_current(audio).method == "recognise"  # type: ignore[union-attr]


# --- The packing and the repairs, with stand-in engines ------------------------------------------------


OPTIONS = AsrOptions(model="stand-in", device="cpu", language="en", beam_size=1)


def test_sentences_are_packed_into_windows_of_at_most_29_seconds() -> None:
    sentences = [forced.Sentence(f"s{i}", i * 9.5, i * 9.5 + 9.0) for i in range(7)]
    assert forced.windows(sentences) == [[0, 1, 2], [3, 4, 5], [6]]
    assert forced.windows([forced.Sentence("long", 0.0, 40.0), *sentences[5:]]) == [[0], [1, 2]]


def test_words_get_the_attentions_times_inside_their_sentence_and_a_too_long_sentence_is_recognised() -> None:
    rate = 16_000
    sentences = [
        forced.Sentence("One, two three.", 1.0, 2.5),
        forced.Sentence("Four five six seven eight.", 3.0, 4.9),
        forced.Sentence(" ".join(["word"] * 80) + ".", 5.0, 36.0),
    ]
    samples = np.zeros(int(37 * rate), dtype=np.int16)
    aligned_texts: list[str] = []

    def align(clip: np.ndarray, text: str, options: AsrOptions) -> list[WordResult]:
        aligned_texts.append(text)
        # whisper's words: leading spaces, a merged comma, a lone mark apart; times from the clip's start,
        # 0.15 s before the first sentence. "three." gets no time at all; "Four" is smeared over the pause
        # before its sentence, "eight." over the pause after it.
        return [
            WordResult(0.15, 0.45, " One,", 0.9),
            WordResult(0.45, 0.85, " two", 0.8),
            WordResult(0.85, 0.85, " three", 0.7),
            WordResult(0.85, 0.85, ".", 0.6),
            WordResult(1.2, 2.9, " Four", 0.9),
            WordResult(2.9, 3.1, " five", 0.9),
            WordResult(3.1, 3.3, " six", 0.9),
            WordResult(3.3, 3.5, " seven", 0.9),
            WordResult(3.5, 4.4, " eight.", 0.9),
        ]

    def recognise(clip: np.ndarray, options: AsrOptions) -> TranscriptResult:
        assert len(clip) == pytest.approx(31.25 * rate, abs=2)  # its sentence and the margin after it
        words = [WordResult(0.5 + i * 0.3, 0.7 + i * 0.3, "word", 0.9) for i in range(80)]
        return TranscriptResult("en", "", [SegmentResult(0.5, 25.0, "", [], None, None, None, None, None, words)])

    fractions: list[float] = []
    out = forced.align_sentences(
        samples, sentences, OPTIONS, align=align, recognise=recognise, progress=fractions.append
    )
    assert aligned_texts == ["One, two three. Four five six seven eight."]
    assert (out.windows, out.recognised, fractions) == (1, 1, [0.5, 1.0])
    first, second, third = out.segments
    assert [w.text for w in first.words] == ["One,", "two", "three."]
    assert [w.text for w in third.words] == ["word"] * 79 + ["word."]
    one, two, three = first.words
    assert (one.start, one.end, two.start, three.start) == pytest.approx((1.0, 1.3, 1.3, 1.7))
    assert three.confidence == 0.6 and three.end - three.start == pytest.approx(forced.MIN_WORD)
    four, eight = second.words[0], second.words[-1]
    # Not before its sentence, and no longer than twice the sentence's median word (0.2 s).
    assert (four.start, four.end) == pytest.approx((3.0, 3.4))
    assert (eight.start, eight.end) == pytest.approx((4.5, 4.9))
    assert all(5.0 <= w.start <= w.end <= 36.0 for w in third.words)
