"""Narration scripts from papers: written section by section by an LLM, or extracted offline.

Both answer a ScriptSource (the paper's title, authors, abstract and narrated sections, each paragraph with
its pages) with ScriptLines, each of which keeps the pages it came from, so an editor can check every
sentence of the narration against the paper.

- ExtractiveScriptWriter (offline, deterministic): the title and authors, the abstract, then each section's
  most telling sentences, chosen to fit the target length, in the paper's order.
- ChatScriptWriter (Ollama or an OpenAI-compatible server): one request per section asking for a spoken
  explainer of about the section's share of the words, in JSON, each sentence naming the paragraphs it
  draws on; those paragraphs' pages are the sentence's pages.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings

from media_pipeline.backends.llm.chat import ChatSummarizer, Schema
from media_pipeline.backends.llm.extractive import STOPWORDS
from media_pipeline.backends.tts.pace import Pace
from media_pipeline.text import clean_for_listener, figure_mentions, split_sentences


@dataclass(frozen=True)
class SourceParagraph:
    text: str
    pages: tuple[int, ...]


@dataclass(frozen=True)
class SourceSection:
    title: str
    paragraphs: tuple[SourceParagraph, ...]

    @property
    def pages(self) -> list[int]:
        return sorted({page for p in self.paragraphs for page in p.pages})

    @property
    def words(self) -> int:
        return sum(len(p.text.split()) for p in self.paragraphs)


@dataclass(frozen=True)
class ScriptSource:
    title: str
    authors: tuple[str, ...]
    abstract: str
    sections: tuple[SourceSection, ...]
    seconds: float  # the narration's length to aim at, pauses included
    pace: Pace  # the voice's: how long a sentence takes to say

    @property
    def words(self) -> int:
        """About how many words fill the target length at the voice's pace."""
        return self.pace.words_for(self.seconds)

    def cost(self, text: str) -> float:
        """Seconds of narration a sentence takes: saying it and the pause after it."""
        return self.pace.speaking(text) + self.pace.sentence_pause

    @property
    def section_break(self) -> float:
        """What a section's end adds to its last sentence's pause."""
        return self.pace.section_pause - self.pace.sentence_pause


@dataclass
class ScriptLine:
    text: str
    section: str
    pages: list[int]
    figures: list[int] = field(default_factory=list)


@dataclass
class ScriptResult:
    lines: list[ScriptLine]
    chapter: str = ""  # a chapter title the writer proposes for the section ("": the section's name)
    model: str = ""
    tokens_in: int = 0
    tokens_out: int = 0


class ScriptWriter(Protocol):
    name: str
    server: str  # the key of the server's concurrency limit; "" for an in-process writer

    def identity(self, model: str) -> str: ...

    def write_section(self, source: ScriptSource, index: int, model: str) -> ScriptResult:
        """The lines for source.sections[index]; the first section's begin with the paper's opening."""
        ...


def authors_phrase(authors: tuple[str, ...] | list[str]) -> str:
    names = list(authors)
    if not names:
        return ""
    if len(names) > 3:
        return f"{names[0]} and colleagues"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"


def section_name(title: str) -> str:
    """A heading as a listener hears it: "2.1 Related Work" is "Related Work", "I. RELATED WORK" too."""
    name = re.sub(r"^(?:\d+(?:\.\d+)*\.?|[IVX]+\.|[A-H]\.)\s+", "", title).strip()
    if sum(c.isupper() for c in name) > 0.8 * max(sum(c.isalpha() for c in name), 1) and len(name) > 5:
        name = _headline_case(name)
    return name


def _headline_case(name: str) -> str:
    """An all-capitals heading in headline case; short words that are not everyday ones stay acronyms."""
    words = []
    for i, word in enumerate(name.split()):
        low = word.lower()
        if i and low in STOPWORDS:
            words.append(low)
        elif len(word.strip(",.:;?")) <= 3 and low.strip(",.:;?") not in STOPWORDS:
            words.append(word)  # "AI", "NLP", "GPU"
        else:
            words.append("-".join(part[:1].upper() + part[1:].lower() for part in word.split("-")))
    return " ".join(words)


def opening(source: ScriptSource) -> ScriptLine:
    by = authors_phrase(source.authors)
    text = f"This is an explainer of the paper “{source.title}”" + (f", by {by}." if by else ".")
    return ScriptLine(text, "", [1])


# What a listener is told as a section begins, by what the section does (first match of its name wins).
_ROLES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(introduction|motivation|overview)\b", re.I), "First, here is the problem the paper takes on."),
    (
        re.compile(r"^(related work|background|prior work|previous work|preliminaries)\b", re.I),
        "Next, we look at how this work relates to earlier research.",
    ),
    (
        re.compile(r"^(data|datasets?|corpus|data collection)\b|\b(dataset|corpus) construction\b", re.I),
        "Next, we look at the data the authors work with.",
    ),
    (
        re.compile(r"^(methods?|methodology|approach|our approach|model|proposed method|system design)\b", re.I),
        "Next, the authors describe their approach.",
    ),
    (
        re.compile(r"^(experiments?|experimental setup|evaluation|user study)\b", re.I),
        "Next, we see how the authors tested it.",
    ),
    (re.compile(r"^(results?|findings|main results)\b", re.I), "Now we come to the results."),
    (re.compile(r"^(discussion|limitations)\b", re.I), "Next, we consider what the results mean, and where they stop."),
    (
        re.compile(r"^(conclusions?|summary|future work|concluding remarks)\b", re.I),
        "Finally, here is what the authors conclude.",
    ),
)


def transition(section: str, position: int) -> str:
    """A short spoken bridge into a section, from what the section does; else one that names its subject."""
    for pattern, words in _ROLES:
        if pattern.search(section):
            return words if position or not words.startswith("Next") else words.replace("Next, ", "First, ", 1)
    if not section:
        return ""
    if section.endswith("?"):  # "RQ1: Does agreement improve ...?" is asked, not announced
        question = section.rsplit(":", 1)[-1].strip()
        return f"{'Next' if position else 'First'}, the authors ask: {question[:1].lower() + question[1:]}"
    head, _, rest = section.partition(" ")
    # "Processing PDFs" is said as "processing PDFs"; a name or acronym first ("S2ORC", "BERT") keeps its case.
    subject = (
        section if head.isupper() or any(c.isupper() for c in head[1:]) else head.lower() + (" " + rest if rest else "")
    )
    return f"{'Next' if position else 'First'}, the paper turns to {subject.rstrip('.?:')}."


# A sentence that opens by pointing back ("This shows ...", "However, ...") needs the one before it.
_LEANS_BACK = re.compile(
    r"^(this|these|those|it|they|such|however|thus|therefore|hence|moreover|furthermore|in addition|"
    r"additionally|as a result|consequently|in contrast|similarly|likewise|instead|then|here)\b",
    re.IGNORECASE,
)


# --- Offline ---------------------------------------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")
MIN_WORDS, MAX_WORDS = 6, 55


def _readable(sentence: str) -> bool:
    """A sentence a listener can follow: not a fragment, not a formula, a table row or a reference."""
    words = sentence.split()
    if not MIN_WORDS <= len(words) <= MAX_WORDS or not sentence[:1].isupper():
        return False
    letters = sum(c.isalpha() for c in sentence)
    return (
        letters / max(len(sentence), 1) > 0.6
        and not re.search(r"[=∑∫∂√^_{}\\@]|https?://|www\.|doi:|\w-$", sentence.rstrip(".!?"))
        and re.search(r"[.!?][\"”’)]?$", sentence) is not None
        and not _SIGNPOST.search(sentence)
        and not _NOT_A_SENTENCE.match(sentence)
        and sum(1 for w in words if len(w) == 1 and w.isalpha() and w not in "aAI") < 2  # "T i + 1": math
    )


# Text that reads like a sentence but is not one: a caption set without a colon ("Figure 3 Grand Average
# ERPs at ..."), a numbered list item ("I. Statistical: uses ..."), a theorem's head ("Example 1 (Sparsity").
_NOT_A_SENTENCE = re.compile(
    r"^(?:(?:Fig(?:ure)?s?\.?|Table|TABLE)\s*[\dIVX]+[.:]?\s+[A-Z]|(?:[IVX]+|\d{1,2}|[a-z])[.)]\s|"
    r"(?:Example|Definition|Theorem|Lemma|Corollary|Proposition|Remark|Claim|Proof)\s+\d)"
)


# A bold run-in heading the paper prints at a paragraph's start ("Selecting PDFs We remove ...", "Collecting
# FINE annotations: For both ..."): a few words, then a sentence that begins again with a capital.
_RUN_IN = re.compile(
    r"^[A-Z][\w/’'-]*(?:\s+[\w/’'-]+){0,4}?[:.]?\s+(?=(?:We|Our|In|The|This|These|For|To|Each|All|Here|Using)\s)"
)


def without_run_in(sentence: str) -> str:
    """The sentence without a run-in heading glued to its start."""
    found = _RUN_IN.match(sentence)
    if found is None or re.search(r"[,;]", found.group(0)):
        return sentence
    # A heading names a topic: no "we", "on", "the" in it ("We evaluate on The Pile" is a sentence).
    if any(word.lower() in STOPWORDS for word in re.findall(r"[\w’'-]+", found.group(0))):
        return sentence
    return sentence[found.end() :]


# A sentence about the paper's layout ("The rest of this paper is organized as follows", "See Section 4")
# tells a listener nothing.
_SIGNPOST = re.compile(
    r"\b(?:Section|Sec\.|Subsection|Appendix|§)\s*(?:\d|(?-i:[A-Z])\b)|organi[sz]ed as follows|rest of (?:this|the) "
    r"(?:paper|article)|(?:this|the next|the following) (?:section|subsection|chapter)\b",
    re.IGNORECASE,
)


class ExtractiveScriptWriter:
    name = "extractive"
    server = ""
    version = "extractive-script-2"

    def identity(self, model: str) -> str:
        return self.version

    def _abstract(self, source: ScriptSource, budget: float) -> list[ScriptLine]:
        """The abstract's first sentences, up to two fifths of the script: what the paper is about."""
        lines: list[ScriptLine] = []
        used = 0.0
        for sentence in (clean_for_listener(s) for s in split_sentences(source.abstract)):
            if not _readable(sentence):
                continue
            if used and used + source.cost(sentence) > budget * 0.4:
                break
            lines.append(ScriptLine(sentence, "Abstract", [1], figure_mentions(sentence)))
            used += source.cost(sentence)
        return lines

    def write_section(self, source: ScriptSource, index: int, model: str) -> ScriptResult:
        return ScriptResult(lines=list(self._plan(source)[index]))

    @functools.lru_cache(maxsize=4)  # noqa: B019 - a few sources, dropped with the writer
    def _plan(self, source: ScriptSource) -> tuple[tuple[ScriptLine, ...], ...]:
        """Every section's lines at once, sized in spoken seconds at the voice's pace: what one section
        leaves unsaid (or says over its share) moves the next one's budget, so the whole script keeps to its
        length however many sections there are."""
        start = opening(source)
        budget = max(source.seconds - source.cost(start.text), 15.0)
        abstract = self._abstract(source, budget)
        remaining = max(budget - sum(source.cost(line.text) for line in abstract) - source.section_break, 0.0)
        total = sum(s.words for s in source.sections) or 1
        vocabulary = self._keywords(source)
        plan: list[tuple[ScriptLine, ...]] = []
        carry = 0.0
        for position, section in enumerate(source.sections):
            share = remaining * section.words / total + carry
            bridge = transition(section_name(section.title), position)
            overhead = (source.cost(bridge) if bridge else 0.0) + source.section_break
            picked = self._pick(section, max(share - overhead, 0.0), vocabulary, source.cost)
            if len(picked) < 2 and position + 1 < len(source.sections):
                picked = []  # a bridge and one sentence is a chapter of a few seconds: its time goes to the next
            if picked and bridge:
                # Written by papercast, not taken from the text: it points at the page where the section begins.
                picked.insert(0, ScriptLine(bridge, section_name(section.title), section.pages[:1]))
            spent = sum(source.cost(line.text) for line in picked) + (source.section_break if picked else 0.0)
            carry = share - spent
            plan.append(tuple(picked))
        if plan:
            plan[0] = (start, *abstract, *plan[0])
        return tuple(plan)

    @staticmethod
    def _keywords(source: ScriptSource) -> Counter[str]:
        words = [w.lower() for s in source.sections for p in s.paragraphs for w in _WORD.findall(p.text)]
        return Counter(w for w in words if w not in STOPWORDS and len(w) > 3)

    def _pick(
        self, section: SourceSection, share: float, vocabulary: Counter[str], cost: Callable[[str], float]
    ) -> list[ScriptLine]:
        candidates: list[tuple[float, int, str, SourceParagraph]] = []
        before: dict[int, int] = {}  # a candidate's position -> the position of the sentence just before it
        order = 0
        for p_index, paragraph in enumerate(section.paragraphs):
            previous = -1
            for s_index, raw in enumerate(split_sentences(paragraph.text)):
                sentence = without_run_in(clean_for_listener(raw))
                if not _readable(sentence):
                    previous = -1  # what it would lean on cannot be said
                    continue
                if _LEANS_BACK.match(sentence):
                    before[order] = previous
                tokens = [w.lower() for w in _WORD.findall(sentence)]
                density = sum(math.log1p(vocabulary[t]) for t in tokens if t in vocabulary) / (len(tokens) ** 0.5)
                lead = (1.0 if s_index == 0 else 0.0) + (0.5 if p_index == 0 else 0.0)
                figure = 1.5 if figure_mentions(sentence) else 0.0
                numbers = 0.5 if re.search(r"\d", sentence) else 0.0  # results are told with their numbers
                candidates.append((density + lead + figure + numbers, order, sentence, paragraph))
                previous = order
                order += 1
        chosen: list[tuple[int, str, SourceParagraph]] = []
        by_position = {c[1]: c for c in candidates}
        taken: set[int] = set()
        used = 0.0
        for _, position, _sentence, _paragraph in sorted(candidates, key=lambda c: (-c[0], c[1])):
            if position in taken:
                continue
            # A sentence that leans on the one before it comes with it, or not at all.
            group = [position]
            while group[0] in before and group[0] not in taken:
                lean = before[group[0]]
                if lean < 0 or lean in taken:
                    break
                group.insert(0, lean)
            if group[0] in before and before[group[0]] < 0:
                continue
            length = sum(cost(by_position[p][2]) for p in group)
            # Over the section's share, a sentence is left out; a section with a very small share (a short
            # one in a long paper) may say nothing rather than push the script past its length.
            if used + length > share and (chosen or length > 2 * share):
                continue
            for member in group:
                chosen.append((member, by_position[member][2], by_position[member][3]))
                taken.add(member)
            used += length
        title = section_name(section.title)
        return [
            ScriptLine(sentence, title, list(paragraph.pages), figure_mentions(sentence))
            for _, sentence, paragraph in sorted(chosen, key=lambda c: c[0])
        ]


# --- With an LLM -----------------------------------------------------------------------------------------

SCRIPT_SCHEMA = Schema(
    "narration",
    {
        "type": "object",
        "properties": {
            "chapter": {"type": "string", "maxLength": 80},
            "sentences": {
                "type": "array",
                "maxItems": 60,
                "items": {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string", "maxLength": 400},
                        "paragraphs": {"type": "array", "items": {"type": "integer"}, "maxItems": 12},
                    },
                    "required": ["text", "paragraphs"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["chapter", "sentences"],
        "additionalProperties": False,
    },
)
SYSTEM = (
    "You write the narration of an explainer video about a research paper, for a curious listener who is "
    "not a specialist. Write plain spoken English: short sentences, no lists, no markdown, no formulas or "
    "LaTeX, no citations. Keep every claim, number and result exactly as the paper states it; never add "
    "facts the paper does not give, and say how sure the authors are when they hedge. Refer to a figure as "
    '"Figure N" when the passage discusses it. Answer with JSON only: {"chapter": a title for this part of the '
    'video, two to five words naming what it is about, "sentences": [{"text": ..., "paragraphs": [numbers of '
    "the paragraphs the sentence draws on]}]}."
)
SECTION_PROMPT = (
    "Paper: {title}{by}\nAbstract: {abstract}\n\n"
    "Write the narration for the section “{section}” ({position} of {count}) in about {words} words.{opening}\n"
    "The section's paragraphs, numbered:\n{paragraphs}"
)
MAX_SECTION_CHARS = 12000


@dataclass(frozen=True)
class WrittenSection:
    sentences: list[tuple[str, list[int]]]  # each sentence's text and the paragraphs it draws on
    chapter: str  # "" when the proposed title is missing or unusable


def chapter_title(raw: object) -> str:
    """A proposed chapter title, if it reads as one: a short line, not a sentence or markup."""
    if not isinstance(raw, str):
        return ""
    title = " ".join(raw.split()).strip(" .:;\"'“”")
    if not title or len(title) > 60 or len(title.split()) > 8 or re.search(r"[{}<>\[\]#*`]", title):
        return ""
    return title


def parse_script_json(content: str, paragraph_count: int) -> WrittenSection:
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at position {exc.pos})") from None
    sentences = data.get("sentences") if isinstance(data, dict) else None
    if not isinstance(sentences, list) or not sentences:
        raise ValueError('the key "sentences" is missing or empty')
    out: list[tuple[str, list[int]]] = []
    for item in sentences:
        if not isinstance(item, dict) or not isinstance(item.get("text"), str) or not item["text"].strip():
            raise ValueError('every sentence needs a non-empty "text"')
        cited = item.get("paragraphs")
        raw: list[Any] = cited if isinstance(cited, list) else []
        numbers = [int(n) for n in raw if isinstance(n, int | float) and 1 <= int(n) <= paragraph_count]
        out.append((" ".join(item["text"].split()), numbers))
    return WrittenSection(out, chapter_title(data.get("chapter")))


class ChatScriptWriter:
    def __init__(self, client: ChatSummarizer) -> None:
        self.client = client
        self.name = client.name
        self.server = client.server
        self.version = "chat-script-2"

    def identity(self, model: str) -> str:
        return f"{self.client.identity(model)}:{self.version}"

    def write_section(self, source: ScriptSource, index: int, model: str) -> ScriptResult:
        section = source.sections[index]
        total = sum(s.words for s in source.sections) or 1
        words = max(int(source.words * section.words / total), 25)
        numbered: list[str] = []
        kept = 0
        for number, paragraph in enumerate(section.paragraphs, start=1):
            if numbered and kept + len(paragraph.text) > MAX_SECTION_CHARS:
                break
            numbered.append(f"[{number}] {paragraph.text}")
            kept += len(paragraph.text)
        prompt = SECTION_PROMPT.format(
            title=source.title,
            by=f" by {authors_phrase(source.authors)}" if source.authors else "",
            abstract=source.abstract[:2000] or "(none)",
            section=section_name(section.title) or "Overview",
            position=index + 1,
            count=len(source.sections),
            words=words,
            opening=(
                " Begin by saying what the paper is about and why it matters, in a sentence or two."
                if index == 0
                else " Begin with a short spoken bridge that says what this part of the paper does (for example "
                "“Next, the authors describe how they ...”)."
            ),
            paragraphs="\n".join(numbered),
        )
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
        written, reply, tokens_in, tokens_out = self.client.ask_json(
            messages,
            model,
            SCRIPT_SCHEMA,
            lambda content: parse_script_json(content, len(numbered)),
            f"the section {section_name(section.title) or index + 1!r}",
        )
        lines = []
        for text, numbers in written.sentences:
            pages = sorted({p for n in numbers for p in section.paragraphs[n - 1].pages}) or section.pages
            for sentence in split_sentences(text):
                lines.append(ScriptLine(sentence, section_name(section.title), pages, figure_mentions(sentence)))
        return ScriptResult(
            lines=lines,
            chapter=written.chapter,
            model=reply.model or model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
        )


def get_script_writer() -> ScriptWriter:
    backend = settings.PAPERCAST_LLM_BACKEND
    if backend == "extractive":
        return ExtractiveScriptWriter()
    from media_pipeline.backends.llm import get_summarizer

    client = get_summarizer()
    if not isinstance(client, ChatSummarizer):  # pragma: no cover - every server backend is a chat client
        raise TypeError(f"{backend} cannot write scripts")
    return ChatScriptWriter(client)
