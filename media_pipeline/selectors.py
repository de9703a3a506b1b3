"""Reading a paper's current inputs and outputs: the newest transcription and video, the scenes in order, the
words the narration says, the paper page. What two stages share to read lives here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.db.models.fields.files import FieldFile
from rapidfuzz.distance import Levenshtein

from media_pipeline.backends.errors import PermanentError
from media_pipeline.models import (
    ACTIVE_STATUSES,
    Chunk,
    Figure,
    FigureKind,
    Image,
    PaperDocument,
    Script,
    ScriptSentence,
    Segment,
    StageRun,
    Summary,
    Transcription,
    Video,
)
from media_pipeline.runs import latest_runs, paper_status, stages_for
from media_pipeline.stages.align import normalize, script_tokens, sounds_alike
from media_pipeline.text import markdown_blocks, split_sentences, spoken
from projects import access
from projects.models import DOCUMENT_KINDS, Paper, SourceKind

if TYPE_CHECKING:
    from projects.access import AnyUser


def narration_file(paper: Paper) -> FieldFile | None:
    """The narration: the uploaded audio for audio papers, the narrate stage's output for text papers."""
    field = paper.source_file if paper.source_kind == SourceKind.AUDIO else paper.narration_audio
    return field if field and field.name else None


def transcription_current(paper: Paper) -> Transcription | None:
    return Transcription.objects.filter(paper=paper).order_by("-created_at", "-id").first()


def videos_visible_to(user: AnyUser) -> QuerySet[Video]:
    return access.visible_through_project(Video.objects.all(), user, "paper__project_id")


def transcription_required(paper: Paper) -> Transcription:
    """The newest transcription, or PermanentError when there is none."""
    transcription = transcription_current(paper)
    if transcription is None:
        raise PermanentError("The paper has no transcript yet: run the transcribe stage first.")
    return transcription


def video_current(paper: Paper) -> Video | None:
    return Video.objects.filter(paper=paper).order_by("-created_at", "-id").first()


def chunks_with_outputs(paper: Paper) -> QuerySet[Chunk]:
    """Scenes in order with their summary and selected image, in a constant number of queries."""
    return (
        Chunk.objects.filter(paper=paper)
        .select_related("summary")
        .prefetch_related(Prefetch("images", queryset=Image.objects.filter(selected=True), to_attr="selected_images"))
        .order_by("index")
    )


@dataclass(frozen=True)
class StageRow:
    """One stage of a paper's pipeline as the paper page shows it, from the stage's newest run."""

    stage: str
    label: str
    run: StageRun | None

    @property
    def status(self) -> str:
        return str(self.run.status) if self.run else "not_started"

    @property
    def status_label(self) -> str:
        return str(self.run.get_status_display()) if self.run else "Not started"

    @property
    def tokens(self) -> tuple[int, int] | None:
        metrics = self.run.metrics if self.run else {}
        if "tokens_in" not in metrics:
            return None
        return int(metrics.get("tokens_in") or 0), int(metrics.get("tokens_out") or 0)

    @property
    def note(self) -> str:
        """What the run wants an editor to know although it succeeded (a fallback it took, say)."""
        return str((self.run.metrics if self.run else {}).get("note") or "")

    @property
    def model_seconds(self) -> float | None:
        """Seconds the model itself ran (GPU seconds when the worker has one), where the stage reports it."""
        value = (self.run.metrics if self.run else {}).get("engine_seconds")
        return float(value) if value is not None else None


def stage_rows(paper: Paper) -> list[StageRow]:
    runs = latest_runs(paper)
    return [StageRow(str(stage), stage.label, runs.get(stage)) for stage in stages_for(paper)]


def pipeline_state(paper: Paper) -> dict[str, Any]:
    """The paper's pipeline as the admin's live view and the API report it, from each stage's newest run."""
    rows = stage_rows(paper)
    return {
        "status": paper_status(paper),
        "active": any(row.status in ACTIVE_STATUSES for row in rows),
        "stages": [
            {
                "stage": row.stage,
                "status": row.status,
                "progress": row.run.progress if row.run else 0,
                "attempts": row.run.attempts if row.run else 0,
                "error": row.run.error if row.run else "",
                "seconds": round(row.run.seconds, 3) if row.run and row.run.seconds is not None else None,
                "reused": bool(row.run and row.run.reused),
            }
            for row in rows
        ],
    }


@dataclass
class SceneRow:
    """One scene on the paper page's timeline: its words, summary, every candidate image, flagged segments."""

    chunk: Chunk
    summary: Summary | None
    candidates: list[Image]
    flagged: list[Segment] = field(default_factory=list)
    pages: list[int] = field(default_factory=list)

    @property
    def pages_label(self) -> str:
        """The pages of the paper the scene's narration came from, as "p. 3" or "pp. 3-5, 7"."""
        if not self.pages:
            return ""
        runs: list[str] = []
        start = previous = self.pages[0]
        for page in [*self.pages[1:], None]:
            if page is not None and page == previous + 1:
                previous = page
                continue
            runs.append(str(start) if start == previous else f"{start}–{previous}")
            if page is not None:
                start = previous = page
        return ("p. " if len(self.pages) == 1 else "pp. ") + ", ".join(runs)

    @property
    def selected(self) -> Image | None:
        return next((image for image in self.candidates if image.selected), None)


def scene_rows(paper: Paper) -> list[SceneRow]:
    """The paper's scenes in order, in a constant number of queries whatever the number of scenes."""
    chunks = (
        Chunk.objects.filter(paper=paper)
        .select_related("summary", "summary__edited_by")
        .prefetch_related(
            Prefetch(
                "images",
                queryset=Image.objects.select_related("selected_by").order_by("-selected", "-created_at", "-id"),
                to_attr="all_images",
            )
        )
        .order_by("index")
    )
    rows = [
        SceneRow(chunk, getattr(chunk, "summary", None), list(getattr(chunk, "all_images", []))) for chunk in chunks
    ]
    sources = scene_sources(paper, [(row.chunk.index, row.chunk.start) for row in rows]) if rows else {}
    for row in rows:
        row.pages = sources[row.chunk.index].pages if row.chunk.index in sources else []
    transcription = transcription_current(paper)
    if transcription is not None and rows:
        flagged = list(transcription.segments.exclude(flag="").order_by("start"))
        for row in rows:
            row.flagged = [s for s in flagged if s.start < row.chunk.end and s.end > row.chunk.start]
    return rows


def sentence_spans(paper: Paper) -> list[dict[str, Any]]:
    """The narration's spans that belong to a script sentence ({"sentence": id, "start", "end", ...}), in the
    order they are spoken. Empty for papers without a script (texts, audio) and before narration."""
    spans = [s for s in paper.narration_spans or [] if isinstance(s, dict) and s.get("sentence")]
    return sorted(spans, key=lambda s: float(s["start"]))


@dataclass
class SceneSource:
    """Where a scene's narration came from: the pages of the script sentences it shows, and the figures
    they mention (a figure belongs to the scene in which the mentioning sentence is mostly spoken)."""

    pages: list[int] = field(default_factory=list)
    figures: list[int] = field(default_factory=list)


def scene_sources(paper: Paper, chunks: list[tuple[int, float]] | None = None) -> dict[int, SceneSource]:
    """For each scene (by index): its script sentences' pages and mentioned figures, from the narration's
    sentence spans. Empty for papers without a script (text and audio papers)."""
    spans = sentence_spans(paper)
    if not spans:
        return {}
    if chunks is None:
        chunks = list(Chunk.objects.filter(paper=paper).order_by("index").values_list("index", "start"))
    if not chunks:
        return {}
    sentences = ScriptSentence.objects.in_bulk([int(s["sentence"]) for s in spans])
    starts = [0.0] + [start for _, start in chunks[1:]]
    ends = [start for _, start in chunks[1:]] + [float("inf")]
    out = {index: SceneSource() for index, _ in chunks}
    for span in spans:
        sentence = sentences.get(int(span["sentence"]))
        if sentence is None:
            continue
        begin, finish = float(span["start"]), float(span["end"])
        middle = (begin + finish) / 2
        for (index, _), low, high in zip(chunks, starts, ends, strict=True):
            if min(finish, high) - max(begin, low) > 0.05:
                out[index].pages = sorted({*out[index].pages, *[int(p) for p in sentence.pages]})
            if low <= middle < high:
                out[index].figures = [
                    *out[index].figures,
                    *[f for f in sentence.figures if f not in out[index].figures],
                ]
    return out


OVERVIEW = "Overview"
# A recogniser may put a word's start a little before the sentence's own; sections are set apart by a pause
# of 0.7 s, so a word that starts less than this before a section's start belongs to that section.
SECTION_SLACK = 0.35


def section_starts(paper: Paper) -> list[tuple[float, str]]:
    """Where each section of the paper's script begins in the narration (seconds) and its name, in order:
    the opening and the abstract are the "Overview". Empty for papers without a script (texts, audio)."""
    spans = sentence_spans(paper)
    if not spans:
        return []
    rows = ScriptSentence.objects.filter(pk__in=[int(s["sentence"]) for s in spans]).values_list(
        "pk", "section", "script_id"
    )
    sections = {pk: section for pk, section, _ in rows}
    # The chapter titles an LLM proposed for the script's sections, where it did.
    titles: dict[str, str] = {}
    for proposed in Script.objects.filter(pk__in={script for _, _, script in rows}).values_list(
        "chapter_titles", flat=True
    ):
        titles.update(proposed or {})
    starts: list[tuple[float, str]] = []
    previous: str | None = None
    for span in spans:
        raw = sections.get(int(span["sentence"]))
        if raw is None:
            continue
        section = "" if raw == "Abstract" else raw
        if section != previous:
            starts.append((float(span["start"]), titles.get(section) or section or OVERVIEW))
            previous = section
    return starts


def section_at(sections: list[tuple[float, str]], start: float) -> str:
    """The section being spoken at `start` (a scene's start), from section_starts; "" before the first."""
    current = [title for at, title in sections if at - SECTION_SLACK <= start + 0.05]
    return current[-1] if current else ""


def document_current(paper: Paper) -> PaperDocument | None:
    return PaperDocument.objects.filter(paper=paper).order_by("-created_at", "-id").first()


def script_current(paper: Paper) -> Script | None:
    return Script.objects.filter(paper=paper).order_by("-created_at", "-id").first()


def figures_of(paper: Paper) -> dict[int, Figure]:
    """The current document's numbered figures by number."""
    return {int(f.number): f for f in visuals_of(paper) if f.kind != FigureKind.TABLE and f.number is not None}


def visuals_of(paper: Paper) -> list[Figure]:
    """The current document's numbered figures and tables, in page order: what slides can show."""
    document = document_current(paper)
    if document is None:
        return []
    return list(Figure.objects.filter(document=document, number__isnull=False).order_by("page", "id"))


# --- How the recogniser heard the script (a quality signal for editors) ---------------------------------

_EDGE_PUNCTUATION = re.compile(r"^[^\w']+|[^\w']+$")


@dataclass(frozen=True)
class SentenceHearing:
    """How the recogniser heard one script sentence: the share of its words it got wrong, what it heard
    instead ((script words, heard words)), and whether that is more than settings.PAPERCAST_HARD_TO_FOLLOW
    (a listener would struggle too)."""

    words: int
    error_rate: float
    misheard: list[tuple[str, str]]
    hard_to_follow: bool

    @property
    def percent(self) -> int:
        return round(self.error_rate * 100)


def _bare(word: str) -> str:
    return _EDGE_PUNCTUATION.sub("", word) or word


def _hearing(pairs: list[tuple[str, str]], threshold: float) -> SentenceHearing:
    """From a sentence's (script word, recognised) pairs. transcribe stores one run of differences ("ten
    thousand" heard as "10,000") as its heard text on every word of the run, so a run is judged as a whole:
    neighbours with the same heard text are one run, one entry in `misheard`."""
    runs: list[tuple[list[str], str]] = []
    for text, recognized in pairs:
        if recognized and runs and runs[-1][1] == recognized:
            runs[-1][0].append(text)
        else:
            runs.append(([text], recognized))
    wrong = [(said, heard) for said, heard in runs if heard and not sounds_alike(" ".join(said), heard)]
    rate = sum(len(said) for said, _ in wrong) / len(pairs)
    misheard = [(" ".join(_bare(w) for w in said), _bare(heard)) for said, heard in wrong]
    return SentenceHearing(len(pairs), rate, misheard, rate > threshold)


def sentence_hearing(paper: Paper) -> dict[int, SentenceHearing]:
    """For each script sentence (by ScriptSentence id) that the current transcription heard: its error rate
    (the share of its words that the recogniser heard as something that does not sound the same), the words
    misheard, and whether it is hard to follow. Three queries whatever the number of sentences; read-only.

    Words aligned to the script are the narrated sentences' words in order (transcribe keeps every script
    word), so the sentences' words, in the order of their narration spans, are matched to them in sequence:
    the recogniser's timings are too loose at sentence ends to assign words by time. A sentence whose words
    are not all there in one stretch (edited since it was transcribed) is left out: its hearing is of words
    no longer said. Empty before transcription, for papers without a script, and when the words were not
    aligned to the script (PAPERCAST_SCRIPT_ALIGNMENT off: there are no script words to compare with).
    Script words the recogniser did not hear at all are stored like words heard right (transcribe keeps
    no trace of them), so they do not count as errors.
    """
    spans = [(float(s["start"]), int(s["sentence"])) for s in sentence_spans(paper)]
    if not spans:
        return {}
    transcription = transcription_current(paper)
    if transcription is None or not transcription.aligned_to_script or transcription.method != "recognise":
        return {}  # only a recognition hears the narration as a listener would
    texts = dict(ScriptSentence.objects.filter(pk__in=[s for _, s in spans]).values_list("pk", "text"))
    said: list[str] = []
    owner: list[int] = []
    for _, sentence_id in spans:
        for token in script_tokens(spoken(texts.get(sentence_id, ""))):
            if normalize(token):
                said.append(normalize(token))
                owner.append(sentence_id)
    words = [(t, r) for t, r in transcription.words.order_by("index").values_list("text", "recognized") if normalize(t)]
    found: dict[int, list[int]] = {}
    missing: set[int] = set()
    for op in Levenshtein.opcodes(said, [normalize(t) for t, _ in words]):
        for k in range(op.src_end - op.src_start):
            sentence_id = owner[op.src_start + k]
            if op.tag == "equal":
                found.setdefault(sentence_id, []).append(op.dest_start + k)
            else:
                missing.add(sentence_id)
    threshold = float(settings.PAPERCAST_HARD_TO_FOLLOW)
    return {
        sentence_id: _hearing([words[i] for i in found_at], threshold)
        for sentence_id, found_at in found.items()
        if sentence_id not in missing and found_at[-1] - found_at[0] + 1 == len(found_at)
    }


# --- What the narration says (narrate speaks it; transcribe aligns the recognised words to it) ---------

SENTENCE_PAUSE = 0.3
PARAGRAPH_PAUSE = 0.7


@dataclass(frozen=True)
class NarrationUnit:
    """One sentence to speak, the pause after it, and the script sentence it comes from (if any)."""

    text: str
    pause: float
    sentence_id: int | None = None


def source_text(paper: Paper) -> str:
    """The text of a text paper, checked: UTF-8, not empty, not over the length limit."""
    if paper.source_kind != SourceKind.TEXT:
        raise PermanentError("This paper's source is not a text; there is no text to narrate.")
    if paper.source_text:
        text = paper.source_text
    elif paper.source_file:
        with paper.source_file.open("rb") as handle:
            data = handle.read(settings.PAPERCAST_MAX_TEXT_CHARS * 4 + 4)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise PermanentError(
                f"The text file is not UTF-8 (byte 0x{data[exc.start]:02x} at position {exc.start} is not valid "
                "UTF-8). Save it as UTF-8 and upload it again."
            ) from None
    else:
        text = ""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if not text.strip():
        raise PermanentError("The text is empty. Add the text to narrate and run the pipeline again.")
    if len(text) > settings.PAPERCAST_MAX_TEXT_CHARS:
        raise PermanentError(
            f"The text has {len(text):,} characters; the limit is {settings.PAPERCAST_MAX_TEXT_CHARS:,} "
            "(PAPERCAST_MAX_TEXT_CHARS). Shorten it or split it into several papers."
        )
    return text


def _text_units(text: str) -> list[NarrationUnit]:
    units: list[NarrationUnit] = []
    heading = ""
    for section, paragraph in markdown_blocks(text):
        if section and section != heading:
            heading = section
            units.append(NarrationUnit(spoken(section if section[-1:] in ".!?" else section + "."), PARAGRAPH_PAUSE))
        sentences = [spoken(s) for s in split_sentences(paragraph)]
        units.extend(NarrationUnit(s, SENTENCE_PAUSE) for s in sentences if s)
        if units:
            units[-1] = NarrationUnit(units[-1].text, PARAGRAPH_PAUSE, units[-1].sentence_id)
    return units


def _script_units(paper: Paper) -> list[NarrationUnit]:
    script = script_current(paper)
    if script is None:
        raise PermanentError("The paper has no script yet: run the script stage first.")
    sentences = list(ScriptSentence.objects.filter(script=script).order_by("index"))
    units: list[NarrationUnit] = []
    for i, sentence in enumerate(sentences):
        text = spoken(sentence.text)
        if not text:
            continue
        section_ends = i + 1 == len(sentences) or sentences[i + 1].section != sentence.section
        units.append(NarrationUnit(text, PARAGRAPH_PAUSE if section_ends else SENTENCE_PAUSE, sentence.pk))
    if not units:
        raise PermanentError("The script is empty: write or restore its sentences, then run narrate again.")
    return units


def narration_units(paper: Paper) -> list[NarrationUnit]:
    """The sentences the narration speaks, in order."""
    if paper.source_kind in DOCUMENT_KINDS:
        return _script_units(paper)
    units = _text_units(source_text(paper))
    if not units:
        raise PermanentError("The text has nothing to say once its markup is removed.")
    return units


def spoken_script(paper: Paper) -> str:
    """The words the narration says, in order (what transcription aligns the recognised words to)."""
    return " ".join(unit.text for unit in narration_units(paper))
