"""Speech: papers' notation read aloud correctly, sentences split where a reader stops, Markdown spoken without
its markup, three voices (espeak-ng for real, an OpenAI-compatible server over HTTP, piper's fallback), and
narration spoken sentence by sentence with each sentence's exact span, re-speaking only what changed."""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from media_pipeline import selectors
from media_pipeline.backends.errors import PermanentError
from media_pipeline.backends.tts import get_speaker
from media_pipeline.backends.tts.espeak import EspeakSpeaker
from media_pipeline.backends.tts.openai import OpenAISpeaker
from media_pipeline.models import SpokenSentence
from media_pipeline.stages import narrate, no_progress
from media_pipeline.text import figure_mentions, markdown_blocks, split_sentences, spoken
from projects.models import Paper, Project
from tests.conftest import make_text_paper
from tests.fakes.tts_server import RATE, FakeSpeech, running_speech

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("Accuracy rose by 12% on ImageNet.", "Accuracy rose by 12 percent on ImageNet."),
        ("Swarms, e.g. honeybees, vote.", "Swarms, for example, honeybees, vote."),
        ("The best site, i.e. the largest cavity, wins.", "The best site, that is, the largest cavity, wins."),
        ("As Fig. 3 shows, it works.", "As Figure 3 shows, it works."),
        ("See Figs. 1-3 and Eq. (2).", "See Figures 1 to 3 and Equation 2."),
        ("The rate was 3 x10^3 per second.", "The rate was 3 times ten to the power of 3 per second."),
        ("Errors fell to 10^-3.", "Errors fell to ten to the power of minus 3."),
        ("A constant of 2.5e-4 was used.", "A constant of 2.5 times ten to the power of minus 4 was used."),
        ("It took ~5 ms vs. 10 ms.", "It took about 5 milliseconds versus 10 milliseconds."),
        ("Seeley et al. found 10–20 scouts.", "Seeley and colleagues found 10 to 20 scouts."),
        ("Values were 0.3 ± 0.1 at 37 °C.", "Values were 0.3 plus or minus 0.1 at 37 degrees Celsius."),
        ("As shown before [12, 14], it holds.", "As shown before, it holds."),
        ("Bees decide (Seeley and Visscher, 2004).", "Bees decide."),
        ("See Sec. 4 for details.", "See Section 4 for details."),
        ("COVID-19 and GPT-4 are names.", "COVID-19 and GPT-4 are names."),
        (
            "A corpus of 81.1M papers, 8.1M with full text.",
            "A corpus of 81.1 million papers, 8.1 million with full text.",
        ),
        ("A 7B model saw 12K images.", "A 7 billion model saw 12 thousand images."),
        ("Files of 5 MB and a B2B market stay.", "Files of 5 megabytes and a B2B market stay."),
    ],
)
def test_papers_notation_is_read_aloud_in_words(written: str, said: str) -> None:
    assert spoken(written) == said


def test_sentences_end_where_a_reader_stops_and_not_after_abbreviations() -> None:
    text = "We follow Seeley et al. in 2020. It works, e.g. for bees. Fig. 3 shows 3.5 dances. J. Smith agreed! Why?"
    assert split_sentences(text) == [
        "We follow Seeley et al. in 2020.",
        "It works, e.g. for bees.",
        "Fig. 3 shows 3.5 dances.",
        "J. Smith agreed!",
        "Why?",
    ]


def test_figure_mentions_are_found_in_every_way_papers_write_them() -> None:
    assert figure_mentions("Figure 3 shows it, as does Fig. 4.") == [3, 4]
    assert figure_mentions("See Figures 5 and 6, and Figs. 1-3.") == [5, 6, 1, 2, 3]
    assert figure_mentions("The figure shows nothing numbered; nor does page 3.") == []


def test_markdown_is_read_without_its_markup() -> None:
    text = (
        "# Bees\n\nSome **bold** words and a [link](http://x.org).\n\n"
        "## How\n- first step\n- second step\n\n```\ncode()\n```\n"
    )
    assert markdown_blocks(text) == [
        ("Bees", "Some bold words and a link."),
        ("How", "first step."),
        ("How", "second step."),
    ]


def _wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def test_espeak_speaks_offline_and_the_rate_changes_the_pace(tmp_dir: Path) -> None:
    sentence = "Scouts dance for the sites they found, and the swarm decides."
    normal, fast = tmp_dir / "normal.wav", tmp_dir / "fast.wav"
    seconds = EspeakSpeaker("en-us").speak(sentence, normal)
    quick = EspeakSpeaker("en-us", rate=1.5).speak(sentence, fast)
    assert seconds == pytest.approx(_wav_seconds(normal)) and seconds > 2.0
    assert quick < seconds * 0.8
    with pytest.raises(PermanentError, match="espeak-ng could not speak"):
        EspeakSpeaker("no-such-voice").speak(sentence, tmp_dir / "x.wav")


def test_a_missing_piper_voice_falls_back_to_espeak_or_says_how_to_install_it(settings: Any, project: Project) -> None:
    settings.PAPERCAST_PIPER_VOICE = "en_US-nobody-medium"
    speaker = get_speaker(project)
    assert speaker.name == "espeak" and "en_US-nobody-medium" in speaker.note
    settings.PAPERCAST_TTS_FALLBACK = "none"
    with pytest.raises(PermanentError, match="download_voices en_US-nobody-medium"):
        get_speaker(project)


@pytest.fixture
def speech(settings: Any) -> Iterator[FakeSpeech]:
    with running_speech(FakeSpeech()) as server:
        settings.PAPERCAST_TTS_BACKEND = "openai"
        settings.PAPERCAST_TTS_URL = server.url
        settings.PAPERCAST_TTS_MODEL = "kokoro"
        settings.PAPERCAST_TTS_API_KEY = "sk-test"
        yield server


def test_an_openai_compatible_speech_server_is_asked_in_its_wire_format(
    speech: FakeSpeech, tmp_dir: Path, project: Project
) -> None:
    project.tts_voice, project.tts_rate = "af_bella", 1.25
    speaker = get_speaker(project)
    assert isinstance(speaker, OpenAISpeaker)
    seconds = speaker.speak("Bees vote on a new home.", tmp_dir / "s.wav")
    sent = speech.requests[-1]
    assert sent["path"] == "/v1/audio/speech"
    assert sent["body"] == {
        "model": "kokoro", "input": "Bees vote on a new home.", "voice": "af_bella", "response_format": "wav",
        "speed": 1.25,
    }  # fmt: skip
    assert sent["headers"]["Authorization"] == "Bearer sk-test"
    # The header claimed an unknown length; the audio was read for what it is.
    assert seconds == pytest.approx(speech.seconds_for("Bees vote on a new home.", 1.25), abs=1 / RATE)
    with wave.open(str(tmp_dir / "s.wav"), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, RATE)


def test_speech_server_refusals_say_what_to_fix(speech: FakeSpeech, tmp_dir: Path, settings: Any) -> None:
    with pytest.raises(PermanentError, match=r"voice 'nobody'.*PAPERCAST_TTS_VOICE"):
        OpenAISpeaker("nobody").speak("Hello there.", tmp_dir / "a.wav")
    settings.PAPERCAST_TTS_API_KEY = "wrong"
    with pytest.raises(PermanentError, match="refused the API key"):
        OpenAISpeaker("alloy").speak("Hello there.", tmp_dir / "b.wav")


@pytest.mark.django_db(transaction=True)
def test_narration_is_spoken_sentence_by_sentence_with_exact_spans_and_only_new_sentences_are_spoken(
    speech: FakeSpeech, project: Project
) -> None:
    paper = make_text_paper(project, "# Swarms\n\nBees vote. The swarm waits, e.g. for a quorum.\n\nThen it flies.")
    narrate.run(paper, force=False, progress=no_progress)
    said = [r["body"]["input"] for r in speech.requests]
    assert said == ["Swarms.", "Bees vote.", "The swarm waits, for example, for a quorum.", "Then it flies."]
    paper.refresh_from_db()
    spans = paper.narration_spans
    assert [s["i"] for s in spans] == [0, 1, 2, 3]
    pauses = [selectors.PARAGRAPH_PAUSE, selectors.SENTENCE_PAUSE, selectors.PARAGRAPH_PAUSE]
    for span, text in zip(spans, said, strict=True):
        assert span["end"] - span["start"] == pytest.approx(speech.seconds_for(text, 1.0), abs=1 / RATE)
    for before, after, pause in zip(spans, spans[1:], pauses, strict=False):
        assert after["start"] - before["end"] == pytest.approx(pause, abs=2 / RATE)
    with paper.narration_audio.open("rb") as handle, wave.open(handle, "rb") as wav:
        assert wav.getnframes() / wav.getframerate() == pytest.approx(spans[-1]["end"], abs=1 / RATE)

    narrate.run(paper, force=False, progress=no_progress)  # current: nothing is spoken
    assert len(speech.requests) == 4
    Paper.objects.filter(pk=paper.pk).update(source_text="")
    paper.source_file.delete(save=False)
    Paper.objects.filter(pk=paper.pk).update(source_text="# Swarms\n\nBees vote. The swarm waits.\n\nThen it flies.")
    paper.refresh_from_db()
    narrate.run(paper, force=False, progress=no_progress)  # one sentence changed: only it is spoken
    assert [r["body"]["input"] for r in speech.requests[4:]] == ["The swarm waits."]
    assert SpokenSentence.objects.filter(paper=paper).count() == 5
