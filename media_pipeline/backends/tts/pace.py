"""How long a voice takes to say a text, so a script can be sized in spoken seconds, not words.

A voice's words per minute depend on the words: on 60 sentences of four real papers, piper's en_US-joe-medium
said 147 words a minute overall but anywhere from 130 (long technical words, acronyms spelled out) to 195
(short everyday words) per sentence, so a words-only estimate missed a sentence's length by 16 % on average.
Counting letters, with acronyms and digits (said letter by letter or as number words) and clause punctuation
(a short pause each) weighted more, misses by 8 %. The weights are the fitted ones; a voice's own speed is
one factor, measured by speaking a fixed calibration passage once per voice (media_pipeline.pacing keeps it).
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from media_pipeline.text import spoken

if TYPE_CHECKING:
    from media_pipeline.backends.tts import Speaker

# "NLP", "GPU", "2014": more sound per character ("DESIGNING", a word in capitals, is said as a word).
_SPELLED = re.compile(r"\b(?:[A-Z][A-Z0-9]{1,4}|\d[A-Z0-9]{1,})\b")
_CLAUSE = re.compile(r"[,;:()]")
SPELLED_WEIGHT = 2.2  # extra units per character of an acronym or number (3.2 letters' time in all)
CLAUSE_WEIGHT = 3.6  # units per comma, semicolon, colon or bracket (a short pause)

# Said once per voice to measure its speed: prose like a paper's, with acronyms, numbers and clauses in
# about the proportions papers have them (128 words).
CALIBRATION = (
    "Scientific papers are written to be read, not heard, so a good narration says their ideas plainly.",
    "In this study, the authors collected 8,500 annotated documents from 14 public archives between 2015 and 2021.",
    "They trained a transformer model on a single GPU and compared it with three baselines, including BERT and "
    "a rule-based system.",
    "The new method improved the F1 score from 71.4 to 83.2 percent, while using about half the memory.",
    "However, the gains were smaller on short abstracts, where there is little context to learn from.",
    "The authors conclude that careful data collection matters as much as the choice of architecture, and "
    "they release their code and data so that others can build on this work.",
)


def units(text: str) -> float:
    """How much there is to say in `text` (already in its spoken form), in letter-sized units."""
    letters = sum(c.isalnum() for c in text)
    spelled = sum(len(m) for m in _SPELLED.findall(text))
    return letters + SPELLED_WEIGHT * spelled + CLAUSE_WEIGHT * len(_CLAUSE.findall(text))


@dataclass(frozen=True)
class Pace:
    """A voice's speed and the pauses narrate puts between sentences and sections."""

    seconds_per_unit: float
    sentence_pause: float
    section_pause: float
    words_per_minute: float  # on the calibration passage: what a person can compare voices by
    measured: str  # how the speed was found ("measured: piper:..." or why it is assumed)

    def speaking(self, text: str) -> float:
        """Seconds to say one script sentence (in the paper's notation; said in its spoken form)."""
        return units(spoken(text)) * self.seconds_per_unit

    def words_for(self, seconds: float) -> int:
        """About how many words fill `seconds` of narration at this pace, pauses included."""
        per_word = 60.0 / self.words_per_minute + self.sentence_pause / 20  # a sentence is about 20 words
        return max(round(seconds / per_word), 1)


def assumed(words_per_minute: float, sentence_pause: float, section_pause: float, why: str) -> Pace:
    """A pace from a nominal speed, for a voice that cannot be measured here."""
    calibration_units = sum(units(spoken(s)) for s in CALIBRATION)
    calibration_words = sum(len(spoken(s).split()) for s in CALIBRATION)
    seconds = calibration_words / words_per_minute * 60
    return Pace(seconds / calibration_units, sentence_pause, section_pause, words_per_minute, why)


def measure(speaker: Speaker) -> tuple[float, float]:
    """(seconds per unit, words per minute) of `speaker`, from saying the calibration passage."""
    seconds = 0.0
    with tempfile.TemporaryDirectory(prefix="papercast-pace-") as tmp:
        for i, sentence in enumerate(CALIBRATION):
            seconds += speaker.speak(spoken(sentence), Path(tmp) / f"pace{i}.wav")
    total_units = sum(units(spoken(s)) for s in CALIBRATION)
    words = sum(len(spoken(s).split()) for s in CALIBRATION)
    if seconds <= 0:
        raise ValueError("the voice said the calibration passage in no time")
    return seconds / total_units, words / seconds * 60
