"""Word timings of narration whose words are known: forced alignment instead of recognition.

papercast speaks its narration sentence by sentence from a script, so it knows every word said and where
each sentence lies in the audio (narrate's spans). Decoding that audio word by word to find out what it says
is most of a paper's CPU time; aligning the known words costs one encoder and one decoder pass per window
of up to 30 s (whisper's input), and the cross-attention of its alignment heads gives each word's time.

Consecutive sentences are packed into windows of at most WINDOW seconds; each window's words are aligned in
one pass, each word is kept inside its own sentence's span, and a sentence too long for a window is
recognised and its words aligned to the script (align_to_script), as for recognition.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from media_pipeline.backends.asr import SAMPLE_RATE, AsrOptions, SegmentResult, TranscriptResult, WordResult, as_float32
from media_pipeline.stages.align import HeardWord, align_to_script, script_token_spans

WINDOW = 29.0  # seconds of audio per alignment pass (whisper's window is 30 s)
MARGIN = 0.15  # seconds of the pause around a window's sentences that go in with them
MIN_WORD = 0.04  # a word the attention gives no time gets this much (or what is left before the next one)


@dataclass(frozen=True)
class Sentence:
    text: str
    start: float
    end: float


@dataclass
class Aligned:
    segments: list[SegmentResult]
    engine_seconds: float
    windows: int
    recognised: int  # sentences too long for a window, recognised instead


Align = Callable[[np.ndarray, str, AsrOptions], list[WordResult]]
Timed = tuple[str, float | None, float | None, float | None]  # a script word, its start, end and probability
Recognise = Callable[[np.ndarray, AsrOptions], TranscriptResult]


def windows(sentences: Sequence[Sentence], limit: float = WINDOW) -> list[list[int]]:
    """Consecutive sentences packed into windows whose audio (margins included) lasts at most `limit`."""
    packed: list[list[int]] = []
    for i, sentence in enumerate(sentences):
        if packed and sentence.end + MARGIN - (sentences[packed[-1][0]].start - MARGIN) <= limit:
            packed[-1].append(i)
        else:
            packed.append([i])
    return packed


def align_sentences(
    samples: np.ndarray,
    sentences: Sequence[Sentence],
    options: AsrOptions,
    *,
    align: Align,
    recognise: Recognise,
    progress: Callable[[float], None],
) -> Aligned:
    """One segment per sentence, its words the script's (script_tokens) with times in the whole audio."""
    total = len(samples) / SAMPLE_RATE
    out = Aligned(segments=[], engine_seconds=0.0, windows=0, recognised=0)

    def run(group: list[int]) -> None:
        first, last = sentences[group[0]], sentences[group[-1]]
        before = sentences[group[0] - 1].end if group[0] > 0 else 0.0
        after = sentences[group[-1] + 1].start if group[-1] + 1 < len(sentences) else total
        start = max(first.start - MARGIN, before, 0.0)
        end = min(last.end + MARGIN, after, total)
        clip = as_float32(np.asarray(samples[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]))
        texts = [sentences[i].text for i in group]
        began = time.monotonic()
        try:
            if end - start > WINDOW + 2 * MARGIN:
                raise ValueError("longer than a window")
            words = _aligned_words(clip, texts, options, align)
            out.windows += 1
        except ValueError:  # too long, or too many tokens for one pass
            if len(group) > 1:
                out.engine_seconds += time.monotonic() - began
                run(group[: len(group) // 2])
                run(group[len(group) // 2 :])
                return
            # One sentence longer than a window: recognised, and its words aligned to the script's.
            words = _recognised_words(clip, texts[0], options, recognise)
            out.recognised += 1
        out.engine_seconds += time.monotonic() - began
        for i, sentence_words in zip(group, words, strict=True):
            out.segments.append(_segment(sentences[i], sentence_words, offset=start))

    groups = windows(sentences)
    for done, group in enumerate(groups, start=1):
        run(group)
        progress(done / len(groups))
    return out


def _aligned_words(clip: np.ndarray, texts: list[str], options: AsrOptions, align: Align) -> list[list[Timed]]:
    """Per sentence, its script words with times (from the clip's start) and the model's probability."""
    joined = " ".join(texts)
    timed = align(clip, joined, options)
    # Whisper's words concatenate to " " + joined: each covers a range of characters of `joined`.
    ranges: list[tuple[int, int, WordResult]] = []
    cursor = -1  # the leading space
    for word in timed:
        ranges.append((cursor, cursor + len(word.text), word))
        cursor += len(word.text)
    result: list[list[Timed]] = []
    base = 0
    for text in texts:
        words: list[Timed] = []
        for token, first, past in script_token_spans(text):
            inside = [w for a, b, w in ranges if a < base + past and b > base + first and b > a]
            if inside:
                probabilities = [w.confidence for w in inside if w.confidence is not None]
                words.append(
                    (
                        token,
                        min(w.start for w in inside),
                        max(w.end for w in inside),
                        min(probabilities) if probabilities else None,
                    )
                )
            else:
                words.append((token, None, None, None))
        result.append(words)
        base += len(text) + 1
    return result


def _recognised_words(clip: np.ndarray, text: str, options: AsrOptions, recognise: Recognise) -> list[list[Timed]]:
    heard = [
        HeardWord(w.start, w.end, w.text, w.confidence, n)
        for n, segment in enumerate(recognise(clip, options).segments)
        for w in segment.words
    ]
    aligned, _ = align_to_script(text, heard)
    return [[(a.text, a.start, a.end, a.confidence) for a in aligned]]


def _segment(sentence: Sentence, words: list[Timed], offset: float) -> SegmentResult:
    """The sentence's words in its own span, in order; words the alignment gave no time share the gaps."""
    timed: list[WordResult] = []
    for n, (text, first, last, confidence) in enumerate(words):
        if first is None or last is None:
            # Between the previous word's end and the next timed word's start.
            later = next((w[1] for w in words[n + 1 :] if w[1] is not None), None)
            start = timed[-1].end if timed else sentence.start
            end = offset + later if later is not None else sentence.end
        else:
            start, end = offset + first, offset + last
        start = min(max(start, sentence.start, timed[-1].end if timed else 0.0), sentence.end)
        end = min(max(end, start), sentence.end)
        timed.append(WordResult(start, end, text, confidence))
    _trim_edges(timed)
    for n, word in enumerate(timed):  # a word the attention gave no time still takes a moment
        if word.end - word.start >= MIN_WORD:
            continue
        following = timed[n + 1] if n + 1 < len(timed) else None
        limit = following.start if following is not None else sentence.end
        if following is not None and limit - word.start < MIN_WORD and following.end - following.start > 2 * MIN_WORD:
            following.start = word.start + MIN_WORD  # taken from the next word, which has time to spare
            limit = following.start
        word.end = max(word.end, min(word.start + MIN_WORD, limit))
    confidences = [w.confidence for w in timed if w.confidence is not None]
    return SegmentResult(
        start=sentence.start,
        end=sentence.end,
        text=sentence.text,
        tokens=[],
        temperature=None,
        avg_logprob=None,
        compression_ratio=None,
        no_speech_prob=None,
        confidence=sum(confidences) / len(confidences) if confidences else None,
        words=timed,
    )


def _trim_edges(words: list[WordResult]) -> None:
    """The attention smears a sentence's first and last words into the pauses around it (a last word can take
    a second and a half). The voice starts at the sentence's span and stops at its end, so a first or last
    word longer than twice the sentence's median word keeps only that much, at the edge it shares with the
    span (what whisper itself does to words at sentence marks)."""
    if len(words) < 3:
        return
    durations = sorted(w.end - w.start for w in words)
    longest = max(2 * durations[len(durations) // 2], 0.3)
    first, last = words[0], words[-1]
    if first.end - first.start > longest:
        first.end = first.start + longest
    if last.end - last.start > longest:
        last.start = last.end - longest
