"""Recognising segments whisper invented: repetition loops, speech in silence, text past the end.

Whisper is known to loop on one phrase ("What if you had a team of people who were able to make a smart
computer?" four times in one 31 s segment) and to write text over silence. Such segments would go into
captions, scenes and chapters. The thresholds are whisper's own (compression ratio 2.4, no-speech 0.6 with
log-probability below -1) plus a direct check for a phrase repeated three or more times.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter

from media_pipeline.backends.asr import SegmentResult

COMPRESSION_RATIO_MAX = 2.4
NO_SPEECH_MIN = 0.6
LOGPROB_MAX = -1.0
REPEATS_MIN = 3
_TOKEN = re.compile(r"[\w']+")


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def repeated_phrase(text: str) -> tuple[str, int] | None:
    """A phrase of 2 to 20 words repeated at least 3 times back to back, if the text has one."""
    words = [w.lower() for w in _TOKEN.findall(text)]
    for size in range(2, min(20, len(words) // REPEATS_MIN) + 1):
        for first in range(len(words) - size * REPEATS_MIN + 1):
            phrase = words[first : first + size]
            count = 1
            while words[first + count * size : first + (count + 1) * size] == phrase:
                count += 1
            if count >= REPEATS_MIN:
                return " ".join(phrase), count
    return None


def hallucination(segment: SegmentResult, duration: float) -> str | None:
    """Why the segment looks invented, or None when it looks like real speech."""
    if segment.start >= duration:
        return f"starts at {segment.start:.2f} s, after the end of its audio ({duration:.2f} s)"
    ratio = segment.compression_ratio
    if ratio is None:
        ratio = compression_ratio(segment.text)
    if ratio > COMPRESSION_RATIO_MAX:
        return f"repetition loop (text compresses {ratio:.1f}:1, more than {COMPRESSION_RATIO_MAX})"
    repeated = repeated_phrase(segment.text)
    if repeated is not None:
        phrase, count = repeated
        return f"repetition loop (“{phrase[:80]}” {count} times in a row)"
    if (
        segment.no_speech_prob is not None
        and segment.avg_logprob is not None
        and segment.no_speech_prob > NO_SPEECH_MIN
        and segment.avg_logprob < LOGPROB_MAX
    ):
        return (
            f"probably no speech (no-speech probability {segment.no_speech_prob:.2f}, "
            f"average log-probability {segment.avg_logprob:.2f})"
        )
    return None


def guard_counts(reasons: list[str | None]) -> Counter[str]:
    return Counter(reason.split(" (")[0] for reason in reasons if reason)
