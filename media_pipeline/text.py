"""Text a narrator can read: sentences, Markdown without its markup, and papers' notation spoken in words.

Pure functions, used by the script and narrate stages. `spoken()` turns what a paper writes into what a
voice should say: "e.g." is "for example", "Fig. 3" is "Figure 3", "x10^3" is "times ten to the power of 3",
"95%" is "95 percent". Voices read digits well, so numbers stay digits.
"""

from __future__ import annotations

import re

# Abbreviations after which a full stop does not end a sentence.
_ABBREVIATIONS = (
    "e.g",
    "i.e",
    "et al",
    "etc",
    "cf",
    "vs",
    "approx",
    "resp",
    "fig",
    "figs",
    "eq",
    "eqs",
    "sec",
    "secs",
    "ref",
    "refs",
    "tab",
    "no",
    "vol",
    "pp",
    "dr",
    "mr",
    "mrs",
    "ms",
    "prof",
    "st",
    "jr",
    "sr",
    "inc",
    "ltd",
    "co",
    "al",
    "ch",
    "app",
    "thm",
    "def",
    "prop",
    "lem",
    "cor",
)
_SENTENCE_END = re.compile(r"([.!?…]+[\"”’')\]]*)\s+(?=[\"“‘(\[]?[A-Z0-9])")
_MARKDOWN_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^```.*?^```[ \t]*$", re.MULTILINE | re.DOTALL), ""),  # fenced code: nothing to say
    (re.compile(r"<!--.*?-->", re.DOTALL), ""),
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # images: their alt text
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links: their text
    (re.compile(r"<[^>\n]+>"), ""),  # inline HTML tags
    (re.compile(r"^\s{0,3}>\s?", re.MULTILINE), ""),  # block quotes
    (re.compile(r"^\s*([-*_]\s*){3,}$", re.MULTILINE), ""),  # rules
    (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?!\w)"), r"\1"),
    (re.compile(r"(?<![\w_])_(?!\s)(.+?)(?<!\s)_(?![\w_])"), r"\1"),
    (re.compile(r"`([^`]+)`"), r"\1"),
    (re.compile(r"^\|?(\s*:?-+:?\s*\|)+\s*$", re.MULTILINE), ""),  # table rules
)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_FIGURE_MENTION = re.compile(r"\b(?:Figures?|Figs?\.)\s*(\d+)(?:\s*(?:,|and|&|–|-|to)\s*(\d+))?", re.IGNORECASE)
_CITATION = re.compile(
    r"\s*\[(?:\d+(?:\s*[-–,]\s*\d+)*|[A-Z][A-Za-z-]+(?: et al\.)?,? \d{4}[a-z]?(?:;\s*[^\]]+)?)\]"
    r"|\s*\((?:[A-Z][A-Za-z-]+(?: et al\.| (?:and|&) [A-Z][A-Za-z-]+)?,? \d{4}[a-z]?(?:[;,] ?)?)+\)"
)


def split_sentences(text: str) -> list[str]:
    """The text's sentences, not cut after abbreviations ("e.g.", "Fig.", "et al.") or in decimals."""
    text = " ".join(text.split())
    if not text:
        return []
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end(1)
        before = text[start:end]
        word = re.search(r"([A-Za-z][A-Za-z.]*)\.$", before.rstrip("\"”’')]"))
        if word and word.group(1).lower().rstrip(".") in _ABBREVIATIONS:
            continue
        if re.search(r"\b[A-Z]\.$", before):  # an initial: "J. Smith"
            continue
        sentences.append(before.strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return [s for s in sentences if s]


def markdown_blocks(text: str) -> list[tuple[str, str]]:
    """(section heading, paragraph) pairs of a Markdown or plain text, with the markup removed.

    Plain text is Markdown without headings: its paragraphs come out as they are.
    """
    blocks: list[tuple[str, str]] = []
    heading = ""
    for raw in re.split(r"\n\s*\n", strip_markdown_code(text)):
        body: list[str] = []
        for line in raw.strip("\n").split("\n"):
            match = _HEADING.match(line)
            if match:
                _flush(blocks, heading, body)
                heading = _unmark(match.group(2))
            elif _LIST_ITEM.match(line):
                _flush(blocks, heading, body)  # each item is read as a sentence of its own
                item = _LIST_ITEM.sub("", line).rstrip()
                _flush(blocks, heading, [item if item[-1:] in ".!?:;" else item + "."])
            else:
                body.append(line)
        _flush(blocks, heading, body)
    return blocks


def _flush(blocks: list[tuple[str, str]], heading: str, body: list[str]) -> None:
    paragraph = _unmark(" ".join(body))
    if paragraph:
        blocks.append((heading, paragraph))
    body.clear()


def strip_markdown_code(text: str) -> str:
    pattern, replacement = _MARKDOWN_RULES[0]
    return pattern.sub(replacement, text.replace("\r\n", "\n").replace("\r", "\n"))


def _unmark(text: str) -> str:
    for pattern, replacement in _MARKDOWN_RULES[1:]:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())


def without_citations(text: str) -> str:
    """The sentence without bracketed citations: "as shown [3, 4]" -> "as shown"."""
    return " ".join(_CITATION.sub("", text).split()).replace(" .", ".").replace(" ,", ",")


def figure_mentions(text: str) -> list[int]:
    """Numbers of the figures a sentence refers to ("Figure 3", "Fig. 2", "Figures 4 and 5", "Figs. 1-3")."""
    found: list[int] = []
    for match in _FIGURE_MENTION.finditer(text):
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        separator = text[match.start(2) - 3 : match.start(2)] if match.group(2) else ""
        numbers = (
            range(first, last + 1) if ("-" in separator or "–" in separator or "to" in separator) else (first, last)
        )
        for number in numbers:
            if 0 < number < 1000 and number not in found:
                found.append(number)
    return found


# --- Reading notation aloud ------------------------------------------------------------------------------

_WORDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"\be\.\s?g\.(?=[\s,;:)]|$),?", "for example,"),
        (r"\bi\.\s?e\.(?=[\s,;:)]|$),?", "that is,"),
        (r"\bet al\.", "and colleagues"),
        (r"\betc\.", "et cetera"),
        (r"\bcf\.", "compare"),
        (r"\bvs\.?(?=\s)", "versus"),
        (r"\bapprox\.", "approximately"),
        (r"\bresp\.", "respectively"),
        (r"\bw\.r\.t\.", "with respect to"),
        (r"\bFigs\.\s*(?=\d)", "Figures "),
        (r"\bFig\.\s*(?=\d)", "Figure "),
        (r"\bEqs?\.\s*\(?(\d+)\)?", r"Equation \1"),
        (r"\bSecs?\.\s*(?=\d)", "Section "),
        (r"\bTab\.\s*(?=\d)", "Table "),
        (r"\bRefs?\.\s*(?=\d|\[)", "Reference "),
        (r"\bApp\.\s*(?=[A-Z\d])", "Appendix "),
        (r"\bThm\.\s*(?=\d)", "Theorem "),
        (r"\bNo\.\s*(?=\d)", "number "),
    )
)
_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_POWERS = re.compile(r"(?:\s*[x×·*]\s*|(?<!\d))10\s*(?:\^|\*\*)\s*\{?\s*([-−–+]?\d+)\}?")
_SCIENTIFIC = re.compile(r"\b(\d+(?:\.\d+)?)[eE]([-+]?\d+)\b")
_RANGE = re.compile(r"(?<=\d)\s*[-–—]\s*(?=\d)")
_SYMBOLS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"\s*%", " percent"),
        (r"\s*±\s*", " plus or minus "),
        (r"\s*≈\s*", " approximately "),
        (r"\s*≤\s*", " at most "),
        (r"\s*≥\s*", " at least "),
        (r"\s*≠\s*", " not equal to "),
        (r"(?<=\s)<(?=\s*\d)", "less than"),
        (r"(?<=\s)>(?=\s*\d)", "more than"),
        (r"(?<![\w~])~\s*(?=\d)", "about "),
        (r"\s*→\s*", " to "),
        (r"\s*×\s*(?=\d)", " times "),
        (r"(?<=\d)\s*x\s*(?=\d)", " by "),
        (r"\s*&\s*", " and "),
        (r"°C\b", " degrees Celsius"),
        (r"°", " degrees"),
        (r"\bμs\b|\bus\b(?=\W*$)", " microseconds"),
        (r"(?<=\d)\s*ms\b", " milliseconds"),
        (r"(?<=\d)\s*GB\b", " gigabytes"),
        (r"(?<=\d)\s*MB\b", " megabytes"),
        (r"(?<=\d)\s*GHz\b", " gigahertz"),
        (r"(?<=\d)\s*kHz\b", " kilohertz"),
        (r"(?<=\d)\s*Hz\b", " hertz"),
        (r"(?<=\d)\s*km\b", " kilometres"),
        (r"(?<=\d)\s*nm\b", " nanometres"),
        (r"(?<=\d)\s*kg\b", " kilograms"),
        (r"\bα\b", "alpha"),
        (r"\bβ\b", "beta"),
        (r"\bγ\b", "gamma"),
        (r"\bδ\b|\bΔ\b", "delta"),
        (r"\bε\b", "epsilon"),
        (r"\bθ\b", "theta"),
        (r"\bλ\b", "lambda"),
        (r"\bμ\b", "mu"),
        (r"\bσ\b", "sigma"),
        (r"\bπ\b", "pi"),
    )
)


def _power(match: re.Match[str]) -> str:
    exponent = match.group(1).replace("−", "-").replace("–", "-").lstrip("+")
    spoken = f"minus {exponent[1:]}" if exponent.startswith("-") else exponent
    times = "times " if re.match(r"\s*[x×·*]", match.group(0)) else ""
    return f" {times}ten to the power of {spoken}"


def spoken(text: str) -> str:
    """What a voice should say for a sentence written in a paper's notation."""
    text = without_citations(text.translate(_SUPERSCRIPTS))
    for pattern, replacement in _WORDS:
        text = pattern.sub(replacement, text)
    text = _SCIENTIFIC.sub(lambda m: f"{m.group(1)} times ten to the power of {_sign(m.group(2))}", text)
    text = _POWERS.sub(_power, text)
    text = _RANGE.sub(" to ", text)
    for pattern, replacement in _SYMBOLS:
        text = pattern.sub(replacement, text)
    text = re.sub(r",\s*,", ",", text)
    return " ".join(text.split()).replace(" ,", ",").replace(" .", ".")


def _sign(exponent: str) -> str:
    exponent = exponent.lstrip("+")
    return f"minus {exponent[1:].lstrip('0') or '0'}" if exponent.startswith("-") else exponent.lstrip("0") or "0"
