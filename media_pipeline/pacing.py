"""The pace a script is sized by: the project's voice, measured once and kept (VoicePace), with the pauses
narrate puts between sentences and sections.

Measuring says a short calibration passage (about 45 s of speech; a few seconds for piper on a CPU). A voice
that cannot speak on this machine (not installed, its server down) is not measured: the script is sized at
the nominal 150 words a minute times the project's rate, and the script run says so.
"""

from __future__ import annotations

import logging
import threading

from django.db import IntegrityError, transaction

from media_pipeline.backends.errors import PermanentError, TransientError
from media_pipeline.backends.tts import Speaker, get_speaker
from media_pipeline.backends.tts.pace import Pace, assumed, measure
from media_pipeline.models import VoicePace
from media_pipeline.selectors import PARAGRAPH_PAUSE, SENTENCE_PAUSE
from projects.models import Project

logger = logging.getLogger(__name__)
NOMINAL_WORDS_PER_MINUTE = 150.0
_measured: dict[str, tuple[float, float]] = {}  # identity -> (seconds per unit, words per minute), per process
_lock = threading.Lock()


def voice_key(project: Project) -> str:
    """What a script's length depends on: the voice that will say it (and its rate)."""
    try:
        return get_speaker(project).identity()
    except (PermanentError, TransientError):
        return f"nominal:{project.tts_rate:g}"


def voice_pace(project: Project) -> Pace:
    """The pace of the project's voice: measured (once per voice, kept), else assumed with the reason."""
    try:
        speaker = get_speaker(project)
        identity = speaker.identity()
    except (PermanentError, TransientError) as exc:
        return _nominal(project, f"assumed {NOMINAL_WORDS_PER_MINUTE * project.tts_rate:.0f} words a minute: {exc}")
    with _lock:
        found = _stored(identity) or _measure(speaker, identity)
    if found is None:
        return _nominal(
            project,
            f"assumed {NOMINAL_WORDS_PER_MINUTE * project.tts_rate:.0f} words a minute: the "
            "voice could not be measured (see the log)",
        )
    _measured[identity] = found
    return Pace(found[0], SENTENCE_PAUSE, PARAGRAPH_PAUSE, found[1], f"measured: {identity}")


def _nominal(project: Project, why: str) -> Pace:
    return assumed(NOMINAL_WORDS_PER_MINUTE * project.tts_rate, SENTENCE_PAUSE, PARAGRAPH_PAUSE, why)


def _stored(identity: str) -> tuple[float, float] | None:
    row = VoicePace.objects.filter(identity=identity).first()
    return (row.seconds_per_unit, row.words_per_minute) if row else None


def _measure(speaker: Speaker, identity: str) -> tuple[float, float] | None:
    """Measured now, or earlier in this process (a database that does not have it yet is given it)."""
    if identity in _measured:
        seconds_per_unit, wpm = _measured[identity]
    else:
        try:
            seconds_per_unit, wpm = measure(speaker)
        except (PermanentError, TransientError, OSError, ValueError) as exc:
            logger.warning("Could not measure the pace of %s: %s", identity, exc)
            return None
    try:
        with transaction.atomic():
            VoicePace.objects.create(identity=identity, seconds_per_unit=seconds_per_unit, words_per_minute=wpm)
    except IntegrityError:  # another worker measured it at the same moment: theirs is kept, for everyone
        return _stored(identity)
    logger.info("Measured %s: %.0f words a minute", identity, wpm)
    return seconds_per_unit, wpm
