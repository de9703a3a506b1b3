"""Aligning recognised words to a known script (narration papercast spoke itself).

The script's words are kept, with the recogniser's timings: an edit-distance alignment over normalised
words pairs each script word with what was heard. Words heard correctly take their own timing; a run of
misrecognised words shares its time span among the script words it stands for, by length; script words
not heard at all share the gap they fall in. The word error rate of the recognition is reported.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

_STRIP = re.compile(r"[^\w']+|^'+|'+$")


@dataclass(frozen=True)
class HeardWord:
    start: float
    end: float
    text: str
    confidence: float | None
    segment: int


@dataclass(frozen=True)
class AlignedWord:
    start: float
    end: float
    text: str
    recognized: str
    confidence: float | None
    segment: int


def normalize(word: str) -> str:
    return _STRIP.sub("", unicodedata.normalize("NFKC", word).lower())


_UNITS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"
_NUMBER_WORDS = {
    **{word: n for n, word in enumerate(f"{_UNITS} seventeen eighteen nineteen".split())},
    **{word: 10 * n for n, word in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)},
}
_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9}
_DIGITS = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")


def _number(words: list[str]) -> str:
    """ "ten thousand" -> "10000", "forty two" -> "42" (words known to be number words)."""
    total = current = 0
    for word in words:
        if word == "hundred":
            current = (current or 1) * 100
        elif word in _SCALES:
            total, current = total + (current or 1) * _SCALES[word], 0
        else:
            current += _NUMBER_WORDS[word]
    return str(total + current)


def _continues(previous: str, word: str) -> bool:
    if previous not in _NUMBER_WORDS:  # after "hundred" or "thousand"
        return True
    return _NUMBER_WORDS[previous] >= 20 and _NUMBER_WORDS[previous] % 10 == 0 and 0 < _NUMBER_WORDS[word] < 10


def spoken_form(text: str) -> str:
    """What a listener hears in a phrase: case, punctuation, apostrophes and spacing aside ("scouts'" and
    "scout's", "outgrows" and "out grows" sound alike), and numbers as digits whether they are written in
    digits or in words ("ten thousand" and "10,000", "90%" and "90 percent")."""
    out: list[str] = []
    number: list[str] = []
    for raw in re.split(r"[\s\-]+", unicodedata.normalize("NFKC", text).lower().replace("%", " percent ")):
        word = raw.strip(".,;:!?\"'“”‘’()[]")
        if number and word in _NUMBER_WORDS and not _continues(number[-1], word):
            out.append(_number(number))  # "one two" are two numbers, "twenty one" is one
            number = []
        if word in _NUMBER_WORDS or (number and (word == "hundred" or word in _SCALES)):
            number.append(word)
            continue
        if number:
            out.append(_number(number))
            number = []
        out.append(word.replace(",", "") if _DIGITS.fullmatch(word) else normalize(word).replace("'", ""))
    if number:
        out.append(_number(number))
    return "".join(out)


def sounds_alike(said: str, heard: str) -> bool:
    """Whether what the recogniser wrote (`heard`) is what the script says (`said`), to a listener."""
    return normalize(said) == normalize(heard) or spoken_form(said) == spoken_form(heard)


def script_tokens(script: str) -> list[str]:
    """The script's words as they will be shown; a lone punctuation mark joins the word before it."""
    return [token for token, _, _ in script_token_spans(script)]


def script_token_spans(script: str) -> list[tuple[str, int, int]]:
    """script_tokens with where each one is in `script`: (token, first character, past its last)."""
    tokens: list[tuple[str, int, int]] = []
    for found in re.finditer(r"\S+", script):
        raw = found.group()
        if tokens and not normalize(raw):
            token, start, _ = tokens[-1]
            tokens[-1] = (f"{token} {raw}", start, found.end())
        else:
            tokens.append((raw, found.start(), found.end()))
    return tokens


def word_error_rate(heard: list[str], script: list[str]) -> float:
    reference = [normalize(w) for w in script]
    hypothesis = [normalize(w) for w in heard]
    return Levenshtein.distance(hypothesis, reference) / len(reference) if reference else 0.0


def _spread(start: float, end: float, texts: list[str]) -> list[tuple[float, float]]:
    """Share [start, end] among words in proportion to their length; the last ends exactly at `end`."""
    weights = [max(len(t), 1) for t in texts]
    total = sum(weights)
    edges = [start]
    running = 0
    for weight in weights[:-1]:
        running += weight
        edges.append(start + (end - start) * running / total)
    edges.append(end)  # exactly: summing steps would overshoot by a rounding error into the next word
    return list(itertools.pairwise(edges))


def _kind(tag: str, i1: int, i2: int, j1: int, j2: int) -> str:
    if tag != "differ":
        return tag
    if i2 > i1 and j2 > j1:
        return "replace"
    return "insert" if j2 > j1 else "delete"


def _blocks(heard: list[HeardWord], tokens: list[str]) -> list[tuple[str, int, int, int, int]]:
    """Edit-distance opcodes with each run of differences merged into one block, so that "three hundred"
    heard for "300" gives the script word the whole span rather than a substitution and a deletion."""
    ops = Levenshtein.opcodes([normalize(h.text) for h in heard], [normalize(t) for t in tokens])
    blocks: list[tuple[str, int, int, int, int]] = []
    for op in ops:
        if op.tag != "equal" and blocks and blocks[-1][0] != "equal":
            _, i1, _, j1, _ = blocks.pop()
            blocks.append(("differ", i1, op.src_end, j1, op.dest_end))
        else:
            tag = op.tag if op.tag == "equal" else "differ"
            blocks.append((tag, op.src_start, op.src_end, op.dest_start, op.dest_end))
    return [(_kind(*block), *block[1:]) for block in blocks]


def align_to_script(script: str, heard: list[HeardWord]) -> tuple[list[AlignedWord], float]:
    """The script's words with timings from `heard`, and the recognition's word error rate."""
    tokens = script_tokens(script)
    wer = word_error_rate([h.text for h in heard], tokens)
    if not heard:
        return [], wer
    aligned: list[AlignedWord] = []
    for tag, i1, i2, j1, j2 in _blocks(heard, tokens):
        if tag == "equal":
            aligned += [
                AlignedWord(h.start, h.end, t, h.text, h.confidence, h.segment)
                for h, t in zip(heard[i1:i2], tokens[j1:j2], strict=True)
            ]
        elif tag == "replace":
            span = heard[i1:i2]
            confidences = [h.confidence for h in span if h.confidence is not None]
            confidence = min(confidences) if confidences else None
            recognized = " ".join(h.text for h in span)[:200]
            for (start, end), text in zip(
                _spread(span[0].start, span[-1].end, tokens[j1:j2]), tokens[j1:j2], strict=True
            ):
                aligned.append(AlignedWord(start, end, text, recognized, confidence, span[0].segment))
        elif tag == "insert":  # script words nobody heard: share the gap they fall in
            gap_start = aligned[-1].end if aligned else (heard[i1 - 1].end if i1 > 0 else heard[0].start)
            gap_end = heard[i1].start if i1 < len(heard) else gap_start
            segment = heard[min(i1, len(heard) - 1)].segment
            for (start, end), text in zip(
                _spread(gap_start, max(gap_end, gap_start), tokens[j1:j2]), tokens[j1:j2], strict=True
            ):
                aligned.append(AlignedWord(start, end, text, "", None, segment))
        # "delete": words heard that the script does not have (noise, invented words) are left out.
    return aligned, wer
