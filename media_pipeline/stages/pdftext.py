"""Text as a PDF prints it, made into text a voice can read: ligature glyphs and spacing accents become the
letters they stand for, glyphs without a Unicode mapping are dropped rather than read as codes, letters
set in small caps are put back together, and words broken across lines are joined (a real compound keeps
its hyphen).

Pure functions; document.py applies them to every line it reads.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# Where the reader dropped a raised mark (a footnote or affiliation mark): it separates author names, and
# opens a footnote; everywhere else it is removed.
MARK = "\u2063"
_LIGATURES = {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st", "Ꜳ": "AA", "Ĳ": "IJ"}
# Spacing accents as LaTeX's fonts set them: a separate glyph before (or after) the letter it belongs to.
_SPACING = {"´": "\u0301", "`": "\u0300", "¨": "\u0308", "ˆ": "\u0302", "˜": "\u0303", "¸": "\u0327", "ˇ": "\u030c"}
_SPACING_ACCENT = re.compile(r"([A-Za-z]?)\s?([´`¨ˆ˜¸ˇ])\s?([A-Za-z])")
_CID = re.compile(r"\(cid:\d+\)")
_SMALL_CAPS = re.compile(r"\b([A-Z]) ([A-Z]{2,})\b")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]|[A-Za-z]")


def _accent(match: re.Match[str]) -> str:
    before, mark, after = match.group(1), match.group(2), match.group(3)
    # "Mitrovi´c": the accent sits before the letter it goes on; "M¨uller" likewise. A lone "`" between
    # two words (a quote) has a space after it and is left alone by the pattern's optional spaces only
    # when a letter follows directly.
    if mark == "`" and not before:
        return match.group(0)
    return before + unicodedata.normalize("NFC", after + _SPACING[mark])


def cid_letters(texts: Iterable[str]) -> dict[str, str]:
    """What each unmapped glyph code inside words stands for. Such codes are nearly always ligatures (a font
    without a Unicode map for "fi", "fl", "ff"): each code gets the ligature that makes most of its words
    ones the paper prints elsewhere, and "fi", the commonest, when none does."""
    lines = list(texts)
    if not any("(cid:" in line for line in lines):
        return {}
    known = vocabulary(_CID.sub("", line) for line in lines if "(cid:" not in line)
    scores: dict[str, dict[str, int]] = {}
    for line in lines:
        for word in re.findall(r"[A-Za-z]*\(cid:\d+\)[A-Za-z]*", line):
            code = _CID.search(word)
            if code is None or word == code.group(0):
                continue
            for letters in ("fi", "fl", "ff", "ffi", "ffl"):
                tally = scores.setdefault(code.group(0), {})
                tally[letters] = tally.get(letters, 0) + (_CID.sub(letters, word).lower() in known)
    return {code: max(tally, key=lambda k: (tally[k], k == "fi")) for code, tally in scores.items()}


def clean_line(text: str, cids: dict[str, str] | None = None) -> str:
    """One printed line as readable text."""
    for glyph, letters in _LIGATURES.items():
        if glyph in text:
            text = text.replace(glyph, letters)
    if "(cid:" in text:
        text = _CID.sub(lambda m: (cids or {}).get(m.group(0), ""), text)
    if any(mark in text for mark in _SPACING):
        text = _SPACING_ACCENT.sub(_accent, text)
    text = text.replace("\u00ad", "-").replace("\ufffd", "")
    return " ".join(text.split())


def join_small_caps(text: str) -> str:
    """'L ONG E VAL' and 'A BSTRACT' (small caps, set as a large capital and smaller ones) as one word."""
    letters = [c for c in text if c.isalpha()]
    if not letters or sum(c.isupper() for c in letters) < 0.8 * len(letters):
        return text
    return _SMALL_CAPS.sub(r"\1\2", text)


def vocabulary(texts: Iterable[str]) -> set[str]:
    """Every word printed whole (not broken at a line end), lower-cased: what decides hyphenation."""
    words: set[str] = set()
    broken = False  # the line before ended in a hyphen: this line's first word is the rest of a word
    for text in texts:
        found = _WORD.findall(text.strip())
        if text.rstrip().endswith("-") and found:
            found = found[:-1]
        if broken and found:
            found = found[1:]
        words.update(w.lower() for w in found)
        broken = text.rstrip().endswith("-")
    return words


def join_lines(lines: list[str], words: set[str] | None = None) -> str:
    """Lines of a paragraph as one text, with words broken at line ends put back together.

    "classi-" + "fication" -> "classification". "publicly-" + "available" keeps its hyphen when the paper
    prints "publicly-available" elsewhere, or prints both halves as words and never the joined form.
    """
    text = ""
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if text.endswith("-") and len(text) > 1 and text[-2].isalpha() and line[:1].isalpha():
            head = _WORD.findall(text[:-1])[-1] if _WORD.findall(text[:-1]) else ""
            tail_words = _WORD.findall(line)
            tail = tail_words[0] if tail_words else ""
            text = text + line if _keeps_hyphen(head, tail, words or set()) else text[:-1] + line
        else:
            text = f"{text} {line}" if text else line
    return " ".join(text.split())


def _keeps_hyphen(head: str, tail: str, words: set[str]) -> bool:
    joined, hyphened = (head + tail).lower(), f"{head}-{tail}".lower()
    if hyphened in words:
        return True
    if joined in words:
        return False
    if tail[:1].isupper():
        return True  # "Transformer-" + "XL", "BERT-" + "Base": a name keeps its hyphen
    if (
        len(head) > 4
        and head.lower().endswith("ly")
        and len(tail) > 4
        and (tail.lower() in words or tail.endswith(("ed", "ing")))
    ):
        return True  # "automatically-" + "detected": an adverb compound; a broken word never ends a part in "ly"
    return len(head) > 2 and len(tail) > 2 and head.lower() in words and tail.lower() in words
