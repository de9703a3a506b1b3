"""Text a narrator can read: sentences, Markdown without its markup, and papers' notation spoken in words.

Pure functions, used by the script and narrate stages. `spoken()` turns what a paper writes into what a
voice should say: "e.g." is "for example", "Fig. 3" is "Figure 3", "x10^3" is "times ten to the power of 3",
"95%" is "95 percent". Voices read digits well, so numbers stay digits.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

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


# --- Citations: a listener cannot look them up -----------------------------------------------------------
#
# Four passes, each leaving _CUT where it took something out so that the commas and full stops around a
# citation are repaired once, at the end: parentheses ("(Lo et al., 2020; Müller, 2015)", mixed ones keep
# their other words), narrative citations ("Smith et al. (2019) show" -> "Earlier work shows"), the brackets
# left ("[3, 7]", "[Lo20]"), and a system's year ("Doc2vec (2014)"). A bracket or parenthesis used as a noun
# ("as shown in [3]") becomes "earlier work" so that the sentence still reads.

_CUT = "\x00"
_UPPER = "A-Z" + "".join(c for c in map(chr, range(0xC0, 0x250)) if c.isupper())
_LETTER = r"[^\W\d_]"
# Capitalised words that start sentences or name a paper's parts, never an author.
_NOT_NAMES = (
    "The|This|That|These|Those|Our|We|It|Its|Their|In|On|At|As|By|For|From|With|See|Following|Unlike|Like|And|"
    "But|Also|However|Thus|Here|There|Table|Tables|Figure|Figures|Fig|Figs|Section|Sections|Sec|Appendix|Eq|"
    "Eqs|Equation|Equations|Chapter|Algorithm|Theorem|Lemma|Ref|Refs|Reference|References"
)
_MONTHS_AND_SEASONS = frozenset(
    "January February March April May June July August September October November December Jan Feb Mar Apr "
    "Jun Jul Aug Sep Sept Oct Nov Dec Spring Summer Autumn Fall Winter".split()
)
_PARTICLE = r"\b(?:[Vv][ao]n|[Dd]e[lnr]?|[Dd]ella|[Dd][aiu]|[Dd]os|[Ll][ae]|[Tt]e[nr]|al|el)\s+"
_NAME_WORD = rf"[{_UPPER}](?:{_LETTER}|-(?={_LETTER})|['’](?!s\b)(?={_LETTER}))+"
_NAME = rf"(?<![\w'’-])(?:{_PARTICLE})*(?!(?:{_NOT_NAMES})\b){_NAME_WORD}"  # not the "Xiv" of "arXiv"
_ETAL = r"\s+et\.?\s*al(?:\.|\b)|\s+and\s+(?:colleagues|co-?workers)\b"
_AUTHORS = rf"{_NAME}(?:(?:\s*,\s*|\s*,?\s+(?:and|&)\s+|\s*&\s*){_NAME})*(?:{_ETAL})?"
# Outside parentheses a list of names needs its "and" (and an Oxford comma before it when there are three
# or more), so that "For BERT, Devlin et al. (2019)" does not take BERT for an author.
_AUTHORS_NARRATIVE = rf"{_NAME}(?:{_ETAL}|(?:(?:\s*,\s*{_NAME})+\s*,)?\s+(?:and|&)\s+{_NAME}|\s*&\s*{_NAME})?"
_YEAR = r"(?:1[6-9]|20)\d\d(?!\d)(?:[a-z](?!\w))?(?:\s*[-–]\s*\d{2,4}(?!\d))?|in\s+press|n\.\s?d\.|forthcoming"
_YEARS = rf"(?:{_YEAR})(?:\s*[,;]\s*(?:{_YEAR}|[a-z](?![\w.])))*"
_LOCATOR = r"(?i:pp?\.?|ch\.|chap\.|chapters?|sec\.|sections?|pages?|para\.|tables?|tab\.|figs?\.|figures?|appendix|§)"
_PAGE = r"[\dA-Z]+(?:\.\d+)*[a-z]?(?:\s*[-–]\s*[\dA-Z]+(?:\.\d+)*)?"
_PAGES = rf"(?:\s*[,:]\s*{_LOCATOR}\s*{_PAGE}|\s*:\s*\d+(?:\s*[-–]\s*\d+)?)*"
_SUFFIX_WORD = r"inter\s+alia|among\s+others|and\s+references\s+therein|for\s+(?:a\s+)?(?:review|survey)"
_SUFFIX = rf"(?:\s*,?\s*(?:{_SUFFIX_WORD}))?"
_PREFIX_WORD = (
    r"see\s+also|but\s+see|see|cf\.?|compare|e\.\s?g\.|i\.\s?e\.|for\s+example|for\s+instance|as\s+in|"
    r"for\s+(?:a\s+)?(?:recent\s+)?(?:review|survey|overview|discussion)s?(?:\s*,?\s*see)?|"
    r"as\s+reviewed\s+(?:in|by)|reviewed\s+(?:in|by)|following|adapted\s+from|after"
)
_PREFIX = rf"(?:(?:{_PREFIX_WORD})\s*,?\s*)+"
_NUMBER = r"[1-9]\d{0,2}(?![\d.,]\d)"  # not "[0, 1]", "[1.5, 2]" or "[1,000]"
_NUMBERS = rf"{_NUMBER}(?:\s*[-–—]\s*{_NUMBER})?(?:\s*,\s*{_LOCATOR}\s*\d+(?:\s*[-–]\s*\d+)?)?"
_KEY = rf"[{_UPPER}][A-Za-z]*\+?\d\d(?:\d\d)?[a-z]?(?!\w)"  # "[Lo20]", "[KRS+19]", "[ABC2019]"
_AUTHOR_YEAR = rf"{_AUTHORS}(?:\s*,\s*|\s+){_YEARS}{_PAGES}"
_BRACKET = (
    rf"\[\s*(?:{_NUMBERS}(?:\s*[,;]\s*{_NUMBERS})*|{_KEY}(?:\s*[,;]\s*{_KEY})*"
    rf"|(?:{_PREFIX})?{_AUTHOR_YEAR}(?:\s*;\s*(?:{_PREFIX})?{_AUTHOR_YEAR})*)\s*\]"
)
_BRACKETS = rf"{_BRACKET}(?:\s*(?:[-–—,;]|,?\s*and)\s*{_BRACKET})*"

_PARENTHESIS = re.compile(r"\s*\(([^()]*)\)")
_PARENTHESIS_ITEM = re.compile(
    rf"(?P<lead>^\s*|\s*[;,]\s*|\s+(?:and|&)\s+|\s+(?=(?:{_PREFIX_WORD})[\s,]))(?P<prefix>{_PREFIX})?"
    rf"(?:(?P<authors>{_AUTHORS})(?P<sep>\s*,\s*|\s+){_YEARS}(?P<pages>{_PAGES}){_SUFFIX}"
    rf"|(?P<brackets>{_BRACKETS}){_SUFFIX}|(?P<bare>{_YEARS}{_PAGES}))(?=\s*(?:[;,]|$))"
)
_LEFTOVER = re.compile(rf"(?:[\s,;&]|\band\b|{_PREFIX_WORD}|{_SUFFIX_WORD})*")

_VERBS = (
    "achieve adapt address adopt aim analyse analyze annotate apply argue assume attempt build characterize "
    "claim collect combine compare compile conclude conduct confirm consider construct create curate define "
    "demonstrate describe design detail develop discuss document emphasise emphasize employ establish estimate "
    "evaluate examine exploit explore extend fail find focus follow formalize formulate frame generate give "
    "highlight hypothesise hypothesize identify implement improve incorporate indicate infer introduce "
    "investigate learn leverage make measure mention model note observe obtain offer outline outperform "
    "perform pioneer point posit predict present produce propose prove provide publish quantify recommend "
    "reduce release rely report reveal review seek show state study suggest summarise summarize survey "
    "tackle test train treat try use utilise utilize do have are were"
).split()
_IRREGULAR = {"do": "does", "have": "has", "are": "is", "were": "was"}
_ADVERB = (
    r"(?:also|further|recently|first|then|later|similarly|instead|additionally|previously|originally|"
    r"independently|subsequently|successfully|empirically|theoretically|only|already|extensively|explicitly)"
)
_VERB_AFTER = rf"(?:(?P<adverb>\s+{_ADVERB})?\s+(?P<verb>{'|'.join(sorted(_VERBS, key=len, reverse=True))})\b)?"

_ONE_NARRATIVE = (
    rf"(?:{_AUTHORS_NARRATIVE}|\b[Rr]efs?\.|\b[Rr]eferences?)(?:['’]s)?\s*(?:\(\s*{_YEARS}{_PAGES}\s*\)|{_BRACKETS})"
)
_NARRATIVE_ITEM = re.compile(
    rf"(?P<authors>{_AUTHORS_NARRATIVE}|(?P<ref>\b[Rr]efs?\.|\b[Rr]eferences?))(?P<possessive>['’]s)?"
    rf"(?P<citation>\s*(?:\(\s*{_YEARS}{_PAGES}\s*\)|(?P<bracket>{_BRACKETS})))"
)
_NARRATIVE = re.compile(
    r"(?P<work>\b(?:work|works|research|study|studies|paper|papers|efforts?)\s+(?:by|of|from)\s+)?"
    rf"(?P<chain>{_ONE_NARRATIVE}(?:\s*(?:;|,|,?\s+and|,?\s+&)\s*{_ONE_NARRATIVE})*){_VERB_AFTER}"
)
_BRACKET_CITATION = re.compile(
    r"(?P<prefix>\b(?:see\s+)?(?:e\.\s?g\.|i\.\s?e\.|cf\.|also|for\s+example|for\s+instance)\s*,?\s*)?"
    rf"(?P<brackets>{_BRACKETS}){_VERB_AFTER}"
)
_VERBISH = re.compile(rf"(?:\s+{_ADVERB})?\s+(?:[a-z]+ed|is|was|has|had|can|could|may|might|will|would|must)\b")
_LONE_YEAR = re.compile(r"\s*\(\s*(?:1[6-9]|20)\d\d[a-z]?\s*\)")
# Words after which a citation is a noun ("as shown in [3]", "following (Lo, 2020)"): it becomes "earlier work".
_NOUN_PLACE = re.compile(
    r"\b(?:in|by|from|of|on|to|with|like|unlike|than|following|see|and|as|while|whereas|but|although|since|"
    r"because|that|both|either|neither)\s*$",
    re.IGNORECASE,
)
_PREPOSITION_BEFORE = re.compile(r"\b(?:in|by|from|of|on|to|with|like|unlike|than|following|see)\s*$", re.I)
_SENTENCE_BEFORE = re.compile(r"(?:^|(?<!\be\.g)(?<!\bi\.e)(?<!\bal)(?<!\bcf)(?<!\betc)[.!?][\"”’')\]]*\s+)[\"“‘'(]*$")


_CAPITAL_PARTICLES = frozenset("Van Von De Del Den Der Della Di Da Du Dos La Le Ten Ter".split())


def _names(authors: str) -> list[str]:
    return [w for w in re.findall(_NAME_WORD, authors) if w not in _CAPITAL_PARTICLES]


def _surname(word: str) -> bool:
    """Shaped like a surname ("Seeley", "Müller", "McCoy", "O'Neil", "Demner-Fushman"), not like a system
    ("SciBERT", "ImageNet", "ILSVRC") or a month."""
    if word in _MONTHS_AND_SEASONS:
        return False
    core = re.sub(rf"^(?:Mc|Mac|O['’]|De|Di|Da|Du|La|Le|Van|Von)(?=[{_UPPER}])", "", word)
    return all(part[:1].isupper() and part[1:].islower() for part in re.split(r"[-'’]", core))


def _authors_kind(authors: str, bracket: bool) -> str:
    """ "people" (a citation), "system" (a model or data set with its paper: drop only the reference) or
    "prose" (a month, "in June (2019)": leave it)."""
    names = _names(authors)
    if not names or (len(names) == 1 and names[0] in _MONTHS_AND_SEASONS):
        return "prose"
    if re.search(_ETAL, authors):
        return "people"
    if len(names) > 1 or not bracket:  # "Smith [3]" as often names a method ("Adam [12]") as a person
        return "people" if all(_surname(n) for n in names) else "system"
    return "system"


def _at_start(before: str) -> bool:
    return bool(_SENTENCE_BEFORE.search(before.replace(_CUT, "")))


def _earlier_work(match: re.Match[str], before: str) -> str:
    verb = f" {_singular(match['verb'])}" if match["verb"] else ""
    return ("Earlier work" if _at_start(before) else "earlier work") + (match["adverb"] or "") + verb


def _singular(verb: str) -> str:
    """The verb agreeing with "earlier work": show -> shows, focus -> focuses, study -> studies, have -> has."""
    if verb in _IRREGULAR:
        return _IRREGULAR[verb]
    if re.search(r"(?:s|sh|ch|x|z|o)$", verb):
        return verb + "es"
    return verb[:-1] + "ies" if re.search(r"[^aeiou]y$", verb) else verb + "s"


def _rest(match: re.Match[str]) -> str:
    return (match["adverb"] or "") + (" " + match["verb"] if match["verb"] else "")


def _parenthesis(match: re.Match[str]) -> str:
    content = match[1]
    kept: list[str] = []
    last = removed = 0
    for item in _PARENTHESIS_ITEM.finditer(content):
        if item["bare"]:
            cited = removed > 0 and bool(re.search(r"[;,]", item["lead"]))
        elif item["brackets"]:
            cited = True
        else:
            kind = _authors_kind(item["authors"], bracket=False)
            strong = bool(item["prefix"] or "," in item["sep"] or item["pages"]) and kind != "prose"
            cited = strong or kind == "people"
        if cited:
            kept.append(content[last : item.start()])
            last, removed = item.end(), removed + 1
    if not removed:
        return match[0]
    rest = re.sub(r"^[\s,;]+|[\s,;]+$", "", "".join([*kept, content[last:]]))
    if _LEFTOVER.fullmatch(rest):
        before = match.string[: match.start()]
        return " earlier work" if _PREPOSITION_BEFORE.search(before) else _CUT
    return match[0][: match[0].index("(")] + f"({rest})"


def _narrative(match: re.Match[str]) -> str:
    items = list(_NARRATIVE_ITEM.finditer(match["chain"]))
    kinds = {"people" if i["ref"] else _authors_kind(i["authors"], bracket=bool(i["bracket"])) for i in items}
    if "prose" in kinds:
        return match[0]
    if "system" in kinds or any(i["possessive"] for i in items):  # "SciBERT (2019)", "Seeley's (2010) model"
        chain = match["chain"]
        for item in reversed(items):
            chain = chain[: item.start("citation")] + _CUT + chain[item.end("citation") :]
        return (match["work"] or "") + chain + _rest(match)
    if match["work"]:  # "the recent work by Wang et al. (2019)" -> "the recent work"
        return match["work"].split()[0] + _CUT + _rest(match)
    return _earlier_work(match, match.string[: match.start()])


def _bracket(match: re.Match[str]) -> str:
    before = match.string[: match.start()]
    after = match.string[match.end() :]
    # The subject of its clause: "[3] reports that", "For example, [48] demonstrated"; not "[6] J. Lee and".
    verb = bool(match["verb"])
    subject = (verb or bool(re.match(r"\s+[a-z]", after))) and _at_start(before)
    subject = subject or (before.rstrip().endswith(",") and (verb or bool(_VERBISH.match(after))))
    if not match["prefix"] and (subject or _NOUN_PLACE.search(before.replace(_CUT, ""))):
        return _earlier_work(match, before)
    return _CUT + _rest(match)


def _lone_year(match: re.Match[str]) -> str:
    """ "Doc2vec (2014)", "GPT-3 (2020)": a system and its year; "1.5 million (1850)" and "June (2019)" stay."""
    word = re.search(r"(\S+)\s*$", match.string[: match.start()])
    if word and re.search(r"[A-Z\d]", word[1]) and word[1].strip(".,") not in _MONTHS_AND_SEASONS:
        return _CUT
    return match[0]


def _repaired(text: str, original: str) -> str:
    text = re.sub(rf"\s*{_CUT}(?:\s*{_CUT})*", _CUT, text)
    text = re.sub(rf"^\s*{_CUT}\s*[,;:]?\s*", "", text)  # the sentence began with a citation
    text = re.sub(rf",\s*{_CUT}\s*,", " ", text)  # "Many systems, e.g., [3, 4], exist" -> "Many systems exist"
    text = re.sub(rf"[,;:]?\s*{_CUT}\s*(?=[.!?;:,)\]]|$)", "", text)  # "results (Lo, 2020)." -> "results."
    text = re.sub(rf"\s*{_CUT}(?=['’]s\b|—)", "", text)  # "SciBERT (Beltagy et al., 2019)—does" -> "SciBERT—does"
    text = " ".join(text.replace(_CUT, " ").split())
    text = re.sub(r" ([.,])(?=\s|$|[\"”’')\]])", r"\1", text)  # "results ." -> "results.", not "p < .05"
    first = re.search(r"[^\W\d_]", original)
    if first and first[0].isupper() and text[:1].islower():
        text = text[0].upper() + text[1:]
    return text


def without_citations(text: str) -> str:
    """The sentence without its citations, and still a sentence.

    "as shown [3, 7]" -> "as shown"; "results (Lo et al., 2020; Müller, 2015)." -> "results.";
    "Smith et al. (2019) show that" -> "Earlier work shows that"; "as in Lo et al. [4]" -> "as in earlier work".
    Years in prose ("in 2019 the team") and parentheses with other words in them stay.
    """
    text = unicodedata.normalize("NFC", text)  # PDFs write "Färber" as "Fa" and a combining diaeresis
    cut = _PARENTHESIS.sub(_parenthesis, text)
    cut = _NARRATIVE.sub(_narrative, cut)
    cut = _BRACKET_CITATION.sub(_bracket, cut)
    cut = _LONE_YEAR.sub(_lone_year, cut)
    return _repaired(cut, text)


_REFERENCE_WORD = (
    r"(?i:sections?|sects?\.|secs?\.|§§?|tables?|tabs?\.|figures?|figs?\.|appendix|appendices|apps?\.|"
    r"equations?|eqs?\.|algorithms?|algs?\.|listings?|theorems?|thms?\.|lemmas?|corollar(?:y|ies)|"
    r"definitions?|defs?\.|propositions?|props?\.|lines?|chapters?|chs?\.|examples?|box(?:es)?|panels?|"
    r"steps?|supplementary\s+(?:figures?|figs?\.|tables?|materials?|notes?|sections?|information|methods|data)|"
    r"supplemental\s+materials?|supplement|extended\s+data\s+(?:figs?\.|figures?|tables?))"
)
_REFERENCE_ID = r"(?:[A-Z]?\d+(?:\.\d+)*[a-z]?|[A-Z](?:\.\d+)*|[IVX]+)(?!\w)"
_REFERENCE = rf"{_REFERENCE_WORD}\s*{_REFERENCE_ID}(?:\s*(?:,|and|&|or|–|-|to)\s*{_REFERENCE_ID})*"
_REFERENCE_PREFIX = (
    r"(?i:see\s+also|see|cf\.|e\.\s?g\.,?|i\.\s?e\.,?|shown\s+in|details\s+in|listed\s+in|in|"
    r"as\s+(?:shown|seen|described|discussed|detailed|illustrated|listed|reported|summari[sz]ed|defined)\s+in)"
)
_POSITION = r"(?:top|bottom|upper|lower|left|right|middle|cent(?:er|re)|inset|panels?\s+[a-z]|[a-z](?![\w.]))"
_REFERENCE_PARENTHESIS = re.compile(
    rf"\s*\(\s*(?:{_REFERENCE_PREFIX}\s*)?{_REFERENCE}"
    rf"(?:\s*(?:,|;|and|&)\s*(?:(?:{_REFERENCE_PREFIX}\s*)?{_REFERENCE}|{_POSITION}(?:\s+{_POSITION})*))*"
    r"(?:\s+for\s+(?:more\s+|further\s+|full\s+)?(?:details?|examples?|proofs?|(?:a|an|the)\s+\w+))?\s*\)"
)
# A list's markers: "(1)", "(ii)", "(b)". A lone "(2)" is as often an equation ("which satisfies (2)"), so
# markers go only when the sentence counts (two in a row of one kind) or one opens it ("Steps: (1) ...").
_MARKER = re.compile(r"(?<!\S)\(([1-9]|i{1,3}|iv|vi{0,3}|ix|[a-h])\)(?=\s+[^\W\d_])")
_SERIES = ("123456789", ("i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix"), "abcdefgh")
_EQUATION_BEFORE = re.compile(r"\b(?:Eqs?\.|Equations?)\s*(?:\(\d+\)\s*(?:,|and|or|to|–|-)\s*)*$", re.IGNORECASE)


def _reference(match: re.Match[str]) -> str:
    if _PREPOSITION_BEFORE.search(match.string[: match.start()]):  # "as shown in (Table 2)"
        return " " + match[0].strip()[1:-1].strip()
    return _CUT


def _without_markers(text: str) -> str:
    markers = [m for m in _MARKER.finditer(text) if not _EQUATION_BEFORE.search(text[: m.start()])]
    cut: set[int] = set()
    for series in _SERIES:
        found = [m for m in markers if m[1] in series]
        values = {series.index(m[1]) for m in found}
        opens = any(m[1] == series[0] and re.search(r"(?:^|:)\s*$", text[: m.start()]) for m in found)
        if opens or any(v + 1 in values for v in values):
            cut.update(m.start() for m in found)
    for start in sorted(cut, reverse=True):
        end = text.index(")", start) + 1
        text = text[:start] + _CUT + text[end:]
    return text


# "In Section 3.1, we ..." and ", as described in Section 2," point at the page, which a listener cannot see.
_PART = r"(?:Section|Sec\.|Subsection|Appendix|§)\s*(?:\d+(?:\.\d+)*|[A-Z](?:\.\d+)*)\b"
_POINTER_LEAD = re.compile(rf"^(?:In|From)\s+{_PART},?\s+(?=[a-zA-Z])")
_POINTER_CLAUSE = re.compile(
    rf"(?:,\s*\(?(?:as\s+)?|\s*\((?:as\s+)?|\s*\b[Aa]s\s+)(?:described|discussed|detailed|shown|explained|defined|introduced|presented|given|"
    rf"listed|reported|outlined)\s+(?:in|later in|earlier in)\s+{_PART}\)?,?(?=[\s.;:!?])"
)


def clean_for_listener(sentence: str) -> str:
    """The sentence as a listener should hear it: without citations, without parentheses that only point at
    the paper's parts ("(Section 3)", "(Table 2)", "(see Fig. 4)", "(Appendix A)") or number a list's items
    ("we (1) count and (2) vote"), and without the doubled punctuation those leave. Parentheses that say
    something ("(about 10,000 bees)") stay."""
    text = _REFERENCE_PARENTHESIS.sub(_reference, without_citations(sentence))
    text = _repaired(_without_markers(text), sentence)
    text = _POINTER_LEAD.sub(lambda m: "", text, count=1)
    text = text[:1].upper() + text[1:]
    text = _POINTER_CLAUSE.sub("", text).lstrip(" ,")
    text = text[:1].upper() + text[1:]
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)  # ", ," -> ","
    text = re.sub(r"[,;:]+(?=\.(?!\.)|[!?])", "", text)  # ",." -> "."
    text = re.sub(r"(?<!\.)\.\.(?!\.)", ".", text)  # ".." -> "." (an ellipsis stays)
    return re.sub(r"\s+([,;:.!?])(?=\s|$)", r"\1", text)


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
        (r"[°˚]C\b", " degrees Celsius"),  # ˚ (a ring accent) stands in for the degree sign in some PDFs
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


# "81.1M papers", "a 7B model", "12K images": the suffix is said as the word it stands for.
_MAGNITUDE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)([KMB])\b")
_MAGNITUDES = {"K": "thousand", "M": "million", "B": "billion"}


def spoken(text: str) -> str:
    """What a voice should say for a sentence written in a paper's notation."""
    text = clean_for_listener(text.translate(_SUPERSCRIPTS))
    for pattern, replacement in _WORDS:
        text = pattern.sub(replacement, text)
    text = _SCIENTIFIC.sub(lambda m: f"{m.group(1)} times ten to the power of {_sign(m.group(2))}", text)
    text = _POWERS.sub(_power, text)
    text = _RANGE.sub(" to ", text)
    text = _MAGNITUDE.sub(lambda m: f"{m.group(1)} {_MAGNITUDES[m.group(2)]}", text)
    for pattern, replacement in _SYMBOLS:
        text = pattern.sub(replacement, text)
    text = re.sub(r",\s*,", ",", text)
    return " ".join(text.split()).replace(" ,", ",").replace(" .", ".")


def _sign(exponent: str) -> str:
    exponent = exponent.lstrip("+")
    return f"minus {exponent[1:].lstrip('0') or '0'}" if exponent.startswith("-") else exponent.lstrip("0") or "0"


# --- Abbreviations, said in full the first time -----------------------------------------------------------

# Said as they are by everyone: no listener needs "Portable Document Format" for PDF.
_KNOWN = frozenset("PDF URL GPU GPUs CPU AI API HTML XML JSON USA UK EU DNA RNA PhD TV PC IT".split())
_DEFINED = re.compile(r"\(\s*([A-Z][A-Za-z0-9&-]*[A-Z0-9])(s?)\s*[);,]")
_ACRONYM_USE = r"(?<![\w(-])({})(s?)(?![\w-])"


def _long_form(before: str, acronym: str) -> str | None:
    """The words just before "(ACR)" that the acronym abbreviates, or None (the Schwartz-Hearst rule: the
    acronym's letters appear in order in the words, its first letter starting the first word)."""
    words = before.split()[-min(len(acronym) + 5, len(acronym) * 2) :]
    letters = [c.lower() for c in acronym if c.isalpha()]
    if len(letters) < 2 or not words:
        return None
    candidate = " ".join(words)
    i, j = len(letters) - 1, len(candidate) - 1
    while i >= 0:
        while j >= 0 and (candidate[j].lower() != letters[i] or (i == 0 and j > 0 and candidate[j - 1].isalnum())):
            j -= 1
        if j < 0:
            return None
        i, j = i - 1, j - 1
    start = candidate.rfind(" ", 0, j + 1) + 1
    found = candidate[start:].strip(" ,;:")
    if len(found.split()) > len(letters) + 2 or not found[:1].isalpha() or found.upper() == found:
        return None
    return found


_ARTICLE = re.compile(r"\b([Aa]n?) $")


def _article(match: re.Match[str], *, following: str) -> str:
    """ "an LLM" -> "a large language model": the article that goes with the words now after it."""
    word = "an" if following[:1].lower() in "aeiou" else "a"
    return (word.capitalize() if match.group(1)[0].isupper() else word) + " "


def abbreviations(texts: Iterable[str]) -> dict[str, str]:
    """The abbreviations a paper defines ("natural language processing (NLP)"), first definition wins."""
    found: dict[str, str] = {}
    for text in texts:
        for match in _DEFINED.finditer(text):
            acronym = match.group(1)
            if acronym in found:
                continue
            long_form = _long_form(text[: match.start()], acronym)
            if long_form and acronym not in _KNOWN:
                # "large language models (LLMs)" defines LLM as "large language model".
                found[acronym] = long_form[:-1] if match.group(2) and long_form.endswith("s") else long_form
    return found


def expand_first_uses(sentences: list[str], defined: dict[str, str]) -> list[str]:
    """The sentences, in the order they are said, with each abbreviation said in full the first time it is
    used ("NLP" -> "natural language processing (NLP)"), unless that sentence already says it in full."""
    introduced: set[str] = set()
    return [_expanded(sentence, defined, introduced) for sentence in sentences]


def _expanded(sentence: str, defined: dict[str, str], introduced: set[str]) -> str:
    text = sentence
    for acronym, long_form in defined.items():
        if acronym in introduced:
            continue
        if long_form.lower() in text.lower():
            introduced.add(acronym)
            continue
        match = re.search(_ACRONYM_USE.format(re.escape(acronym)), text)
        if match is None:
            continue
        plural = match.group(2)
        full = long_form + ("s" if plural and not long_form.endswith("s") else "")
        if match.start() == 0:
            full = full[:1].upper() + full[1:]
        before = _ARTICLE.sub(functools.partial(_article, following=full), text[: match.start()])
        text = f"{before}{full} ({acronym}{plural}){text[match.end() :]}"
        introduced.add(acronym)
    return text
