"""The PDF reader on real papers, scored against hand-made labels (issue 14): titles, authors, abstracts,
top-level sections, figures and tables found, non-prose sentences in the offline narration script, and the
reader child's seconds a page and peak memory; with --narrate, the narration itself; with --render, the video.

Usage: python bench/papers.py DIR [--json OUT] [--paper NAME] [--minutes 2] [--verbose]
       python bench/papers.py DIR --narrate [--minutes 2 5] [--json OUT] [--paper NAME] [--verbose]
       python bench/papers.py DIR --render [--minutes 2] [--sheets DIR] [--json OUT] [--paper NAME] [--verbose]
DIR holds the PDFs, which stay outside the repo; bench/papers_labels.json holds their labels keyed by each
PDF's sha256, and a PDF without a label is skipped. Each PDF is read as the extract stage reads it (read_pdf,
build_document, cut_figures, the check for pages without text), in a Django set up on a fresh temporary data dir; a read
that fails misses every measure. Targets: titles 100 %, abstracts >= 90 %, sections >= 90 %,
figures and tables >= 85 %. The offline script is sized at an assumed 150 words a minute.

--narrate runs the real stages instead, in that fresh Django: each PDF is uploaded as a paper of one project,
extracted once, then scripted and narrated (piper; PAPERCAST_PIPER_VOICE, else the shared
en_US-joe-medium.onnx, measured once for its pace) at each --minutes value (default 2 and 5). Each narration
is checked for: non-prose sentences in its script; the paper's subject in the first 20 s (the sentences that
start before then hold the labelled title, or two of its words of 4+ letters that are not stopwords); its
length within 10 % of the target; its chapters (the script's sections, less the opening and the abstract)
being top-level sections of the document. Piper takes about 10 s a minute of audio on 2 cores, so a run
over a dozen papers takes minutes; progress goes to stderr.

--render runs every stage (extract to render, as the pipeline runs them inline) on each PDF, labelled or not,
at one --minutes value (default 2), with piper as above, whisper's tiny.en (PAPERCAST_WHISPER_MODEL, else the
shared tiny.en.pt) and the slides image backend (PAPERCAST_IMAGE_BACKEND, else slides). From the video: one
frame per scene at its midpoint (ffmpeg), tiled 4 a row at 480 px wide with each scene's number, times and what
its slide shows, into one contact sheet PNG per paper in --sheets (default /tmp/papercast-sheets; the thumbnail
is copied beside it). Per paper: scenes; scenes showing a figure or table; scenes whose slide repeats the
narration (a key phrase of 6+ words found as it stands in the scene's text, or equal to one of its sentences;
case, accents and punctuation aside; target 0); slides with ellipsised text (target 0); the video's length
against the target; the thumbnail's bytes and size. --paper takes a comma list too. A paper takes a few minutes
on 2 cores (whisper and piper dominate).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import unicodedata
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from benchsetup import ROOT, fresh_django
from rapidfuzz import fuzz

LABELS = Path(__file__).with_name("papers_labels.json")
TARGETS = {"title": 1.0, "abstract": 0.90, "sections": 0.90, "figures": 0.85, "tables": 0.85}
MEASURES = ("title", "authors", "abstract", "sections", "sections_without_appendix", "figures", "tables", "non_prose")
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "‐": "-"})
_SECTION_NUMBER = re.compile(r"^(?:appendix\s+)?(?:\d+(?:\.\d+)*|[ivx]+|[a-z](?:\.\d+)*)[.:)]?\s+", re.IGNORECASE)
_NUMBERED_START = re.compile(r"^(?:\d+(?:\.\d+)*\.?|[IVX]+\.)\s+[A-Z]")
_CHECKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("number run", re.compile(r"(?:[-+]?\d[\d.,%]*\s+){2,}[-+]?\d")),
    (
        "citation",
        re.compile(
            r"\[\s*\d+(?:\s*[,–-]\s*\d+)*\s*\]|[(\[][^()\[\]]*[A-Z][a-z-]+(?: et al\.)?,? (?:19|20)\d\d[a-z]?"
            r"(?:[;,][^()\[\]]*)?[)\]]"
        ),
    ),
    ("et al.", re.compile(r"\bet al\b")),
    (
        "footnote mark",
        re.compile(
            r"[A-Za-z]{2,}[,.;:)]\d{1,2}(?=\s|$)|\b[a-z]{3,}\d{1,2}(?=[\s,.;:)]|$)|\w[¹²³⁴-⁹*†‡§¶∗□⋄]|[a-z][α-δ]\b"
        ),
    ),
    ("(cid:", re.compile(r"\(cid:")),
    ("split word", re.compile(r"[A-Za-z]- (?!(?:or|and|to|nor)\b)[A-Za-z]")),
    ("ligature glyph", re.compile("[\ufb00-\ufb06]")),
    ("spacing diacritic", re.compile(r"[´¨`ˆ˜˚¸˘ˇ˙˝]\s?[A-Za-z]|[A-Za-z][´¨ˆ˜˚¸˘ˇ˙˝]")),
    ("e-mail/URL", re.compile(r"\S+@\S+\.[a-z]{2,}|https?://|\bwww\.|\b\w+\.(?:com|org|edu|net|io)\b", re.IGNORECASE)),
)
_VERB = re.compile(  # a verb-ish shape: an auxiliary, a participle, a subject and its verb, a common verb
    r"\b(?:is|are|was|were|be|been|being|has|have|had|do|does|did|can|could|will|would|should|may|might|must"
    r"|[a-z]{2,}(?:ed|ing)|(?:we|they|it|this|these|that|which|who|he|she|i|one)\s+[a-z]{2,}"
    r"|(?-i:[a-z][\w-]*[^\Wsu]s\s+(?:the|an?|to|that|its|their|our|on|in|with|by|from|over|as|up|out|into|\d[\w.]*))"
    r"|(?:show|use|propose|present|introduce|find|make|take|give|need|allow|require|provide|include|contain"
    r"|achieve|improve|perform|outperform|yield|lead|help|enable|remain|become|seem|appear|mean|depend|follow"
    r"|consist|describe|report|suggest|represent|produce|reduce|increase|compare|consider|apply|obtain|run|work"
    r"|hold|keep|let|see|know|say|go|come|get|add|build|train|learn|predict|capture|focus|rely|exist|behave"
    r"|determine|extend|log|restore|store|serve|return|call|compute|choose|select|generate|process|define"
    r"|fix|read|write|sort|map|split|cause|change|differ|grow|fall|rise|vary|match|miss|fail|pass)(?:s|es)?)\b",
    re.IGNORECASE,
)
_FRONT_HEADINGS = ("Abstract", "Keywords", "Index Terms", "CCS Concepts", "ACM Reference Format", "Author Keywords")
VOICE = ROOT.parent / "shared" / "models" / "piper" / "en_US-joe-medium.onnx"  # as tests/conftest.py finds it
SUBJECT_SECONDS = 20.0  # the paper's subject is said before this
LENGTH_TOLERANCE = 0.10  # the narration's length, relative to the target
CHECKS = ("non_prose", "subject", "length", "chapters")
WHISPER = ROOT.parent / "shared" / "models" / "whisper" / "tiny.en.pt"  # as tests/conftest.py finds it
SHEETS = Path(tempfile.gettempdir()) / "papercast-sheets"
VERBATIM_WORDS = 6  # a slide phrase this long found as it stands in its scene's narration repeats it
SHEET_COLUMNS, SHEET_WIDTH = 4, 480  # the contact sheet: frames a row, and each frame's width


def norm(text: str) -> str:
    """NFKC (ligatures), straight quotes, single spaces, case folded."""
    return " ".join(unicodedata.normalize("NFKC", text).translate(_QUOTES).split()).casefold()


def plain(text: str) -> str:
    """norm() without accents."""
    return "".join(c for c in unicodedata.normalize("NFKD", norm(text)) if not unicodedata.combining(c))


def section_key(title: str) -> str:
    return _SECTION_NUMBER.sub("", norm(title)).strip(" .:")


def sections_missed(labelled: list[str], found: list[str]) -> list[str]:
    """The labelled headings that no reader heading matches (each reader heading matches one label at most)."""
    pool: list[str | None] = [section_key(t) for t in found]
    missed = []
    for title in labelled:
        key = section_key(title)
        hit = next((i for i, c in enumerate(pool) if c is not None and fuzz.ratio(key, c) >= 90), None)
        if hit is None:
            missed.append(title)
        else:
            pool[hit] = None
    return missed


def non_prose(sentence: str, headings: list[str], words: Counter[str], pairs: Counter[tuple[str, str]]) -> list[str]:
    """Why a narration sentence does not read as prose (empty: it does)."""
    reasons = [name for name, pattern in _CHECKS if pattern.search(sentence)]
    tokens = sentence.split()
    if len(tokens) < 4:
        reasons.append("fragment")
    if not re.search(r"[.!?:;][\"”’')\]]*$", sentence):
        reasons.append("unterminated")
    if len(tokens) >= 5 and sum(any(c.isdigit() for c in t) for t in tokens) > 0.4 * len(tokens):
        reasons.append("number run")
    if not _VERB.search(sentence):
        reasons.append("no verb")
    if _NUMBERED_START.match(sentence) or any(
        len(h) > 3 and (norm(sentence) == norm(h) or re.match(rf"(?i:{re.escape(h)})\.?\s+[A-Z]", sentence))
        for h in headings
    ):
        reasons.append("heading")
    for token in re.findall(r"[A-Za-z]{6,}", sentence):
        word = token.lower()
        splits = ((word[:i], word[i:]) for i in range(2, len(word) - 1))
        if words[word] <= 2 and any(pairs[pair] and min(words[p] for p in pair) >= 2 for pair in splits):
            reasons.append(f"glued words ({token})")
            break
    return list(dict.fromkeys(reasons))


def offline_script(document: Any, minutes: int) -> list[str]:
    """The extractive script's sentences, as the script stage writes them at an assumed 150 words a minute
    (with narrate's pauses), not at a measured voice's pace."""
    from media_pipeline.backends.llm.script import ExtractiveScriptWriter
    from media_pipeline.backends.tts.pace import assumed
    from media_pipeline.stages.script import source_for

    # source_for reads only these fields of the paper and of its stored PaperDocument.
    project = SimpleNamespace(script_minutes=minutes)
    paper = SimpleNamespace(title=document.title[:300], script_minutes=minutes, project=project)
    stored = SimpleNamespace(
        authors=document.authors,
        abstract=document.abstract,
        sections=[
            {
                "title": s.title,
                "level": s.level,
                "kind": s.kind,
                "paragraphs": [{"text": p.text, "pages": p.pages} for p in s.paragraphs],
            }
            for s in document.sections
        ],
    )
    source = source_for(cast(Any, paper), cast(Any, stored), assumed(150.0, 0.3, 0.7, "bench"))
    writer = ExtractiveScriptWriter()
    lines = [line for i in range(len(source.sections)) for line in writer.write_section(source, i, "").lines]
    return [line.text for line in lines if line.text.strip()]


def score(pdf: Path, label: dict[str, Any], minutes: int) -> dict[str, Any]:
    from media_pipeline.backends.errors import PermanentError
    from media_pipeline.backends.pdf import read_pdf
    from media_pipeline.stages import extract
    from media_pipeline.stages.document import build_document

    row: dict[str, Any] = {"file": pdf.name, "pages": label["pages"], "error": ""}
    rss_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    work = Path(tempfile.mkdtemp(prefix="papercast-bench-papers-"))
    try:
        out = work / "pages"
        out.mkdir()
        started = time.perf_counter()
        raw = read_pdf(pdf, out)
        row["read_seconds"] = time.perf_counter() - started
        row["pages"] = len(raw["pages"])
        row["seconds_per_page"] = row["read_seconds"] / max(row["pages"], 1)
        started = time.perf_counter()
        document = build_document(raw)
        extract.cut_figures(pdf, out, document)  # a figure or table counts only once it is cut out as a PNG
        row["build_seconds"] = time.perf_counter() - started
        extract._check_text(document)  # the stage fails a PDF whose pages hold almost no text: so does the bench
    except PermanentError as exc:
        row["error"] = str(exc)
        document = None
    except Exception as exc:  # a reader being rewritten may crash on one paper; the others still count
        row["error"] = f"reader crashed: {type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc()
        document = None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rss_after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is a high-water mark over every child so far: exact only when this read raised it.
    row["peak_rss_mb"] = rss_after / 1024
    row["peak_rss_exact"] = rss_after > rss_before
    row.update(judge(document, label, minutes))
    return row


def judge(document: Any, label: dict[str, Any], minutes: int) -> dict[str, Any]:
    """The reader's document against the label, each measure as hit of `of`; None (a failed read) misses all."""
    if document is None:
        document = SimpleNamespace(title="", authors=[], abstract="", sections=[], figures=[])
    title_ok = norm(document.title) in {norm(t) for t in [label["title"], *label["title_alt"]]}
    authors = " | ".join(plain(a) for a in document.authors)
    missed_authors = [
        n for n in label["authors"] if not re.search(rf"(?<![a-z]){re.escape(plain(n))}(?![a-z])", authors)
    ]
    found = [s.title for s in document.sections if s.level == 1 and s.title.strip()]
    missed = sections_missed(label["sections"], found)
    body = [s for s in label["sections"] if s not in label["appendix_sections"]]
    counts = {
        "figures": len({f.number for f in document.figures}),
        "tables": len({getattr(t, "number", i) for i, t in enumerate(getattr(document, "tables", []))}),
    }
    result: dict[str, Any] = {
        "title": {"hit": int(title_ok), "of": 1, "got": document.title, "label": label["title"]},
        "authors": {"hit": len(label["authors"]) - len(missed_authors), "of": len(label["authors"])},
        "abstract": {"hit": int(norm(label["abstract_start"]) in norm(document.abstract)), "of": 1},
        "sections": {"hit": len(label["sections"]) - len(missed), "of": len(label["sections"])},
        "sections_without_appendix": {"hit": len([s for s in body if s not in missed]), "of": len(body)},
    }
    result["authors"].update(got=list(document.authors), missed=missed_authors)
    result["abstract"]["got_start"] = document.abstract[:120]
    result["sections"].update(found=found, missed=missed)
    for kind, count in counts.items():
        result[kind] = {"hit": min(count, label[kind]), "of": label[kind], "found": count}
    sentences: list[str] = []
    if document.sections:
        try:
            sentences = offline_script(document, minutes)
        except Exception as exc:  # no narratable section is a PermanentError; it is shown, not fatal
            result["script_error"] = f"{type(exc).__name__}: {exc}"
    result["non_prose"] = prose_of(sentences, document, label)
    return result


def prose_of(sentences: list[str], document: Any, label: dict[str, Any]) -> dict[str, Any]:
    """The script's sentences that do not read as prose (hit of `of`), judged against the document's words and
    headings (its level-1 sections and the labelled ones)."""
    found = [s.title for s in document.sections if s.level == 1 and s.title.strip()]
    text = " ".join([document.abstract, *(p.text for s in document.sections for p in s.paragraphs)]).lower()
    tokens = re.findall(r"[a-z]+", text)
    words, pairs = Counter(tokens), Counter(itertools.pairwise(tokens))
    headings = [_SECTION_NUMBER.sub("", t) for t in [*found, *label["sections"]]] + list(_FRONT_HEADINGS)
    offending = [{"text": s, "reasons": r} for s in sentences if (r := non_prose(s, headings, words, pairs))]
    return {
        "hit": len(offending),
        "of": len(sentences),
        "words": sum(len(s.split()) for s in sentences),
        "reasons": dict(Counter(r.split(" (")[0] for o in offending for r in o["reasons"])),
        "offending": offending,
    }


def totals(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each measure summed over the papers (hit of `of`), the seconds a page and the peak memory."""
    summary: dict[str, dict[str, float]] = {}
    for name in MEASURES:
        hit, of = sum(r[name]["hit"] for r in rows), sum(r[name]["of"] for r in rows)
        summary[name] = {"hit": hit, "of": of, "share": hit / of if of else 1.0}
    read = [r for r in rows if "read_seconds" in r]
    summary["seconds_per_page"] = {
        "value": sum(r["read_seconds"] for r in read) / max(sum(r["pages"] for r in read), 1)
    }
    summary["peak_rss_mb"] = {"value": max(r["peak_rss_mb"] for r in rows)}
    return summary


def report(rows: list[dict[str, Any]], summary: dict[str, dict[str, float]], verbose: bool) -> None:
    for r in rows if verbose else []:
        print(f"\n== {r['file']}" + (f"  ERROR: {r['error']}" if r["error"] else ""))
        print(r.get("traceback", ""), end="")
        print(f"  title {'ok' if r['title']['hit'] else 'MISS'}: {r['title']['got']!r} (label {r['title']['label']!r})")
        print(f"  authors: {r['authors']['got']}, missed {r['authors']['missed']}")
        print(f"  abstract {'ok' if r['abstract']['hit'] else 'MISS'}: {r['abstract']['got_start']!r}")
        print(f"  level-1 sections: {r['sections']['found']}\n  sections missed: {r['sections']['missed']}")
        for o in r["non_prose"]["offending"]:
            print(f"  non-prose [{', '.join(o['reasons'])}]: {o['text']}")
        if r.get("script_error"):
            print(f"  script: {r['script_error']}")
    print(f"\n{'paper':<26}{'pp':>4}{'s/pp':>6}{'RSS MB':>8}  {'title':<6}{'authors':>8}{'abstr':>6}", end="")
    print(f"{'sections':>9}{'figures':>8}{'tables':>7}{'non-prose':>10}")
    for r in rows:
        spp = f"{r['seconds_per_page']:.2f}" if "seconds_per_page" in r else "-"
        rss = ("" if r["peak_rss_exact"] else "<=") + f"{r['peak_rss_mb']:.0f}"
        a, s, f, t, n = (r[k] for k in ("authors", "sections", "figures", "tables", "non_prose"))
        print(
            f"{Path(r['file']).stem[:25]:<26}{r['pages']:>4}{spp:>6}{rss:>8}  {'yes' if r['title']['hit'] else 'no':<6}"
            f"{a['hit']:>5}/{a['of']:<2}{'yes' if r['abstract']['hit'] else 'no':>6}{s['hit']:>6}/{s['of']:<2}"
            f"{f['found']:>5}/{f['of']:<2}{t['found']:>4}/{t['of']:<2}{n['hit']:>6}/{n['of']:<3}"
        )
        if r["error"]:
            print(f"    FAILED: {r['error'][:200]}")
    print("\nsummed over the papers (figures, tables: min(found, labelled) per paper; non-prose: of the sentences)")
    for name in MEASURES:
        value, target = summary[name], TARGETS.get(name)
        verdict = f"  target {target:.0%}: {'met' if value['share'] >= target else 'MISSED'}" if target else ""
        print(f"  {name:<26}{value['hit']:>5.0f}/{value['of']:<5.0f}{value['share']:>7.1%}{verdict}")
    print(
        f"  {'read, seconds a page':<26}{summary['seconds_per_page']['value']:>11.2f}  (the reader child's wall time)"
    )
    print(
        f"  {'reader peak RSS':<26}{summary['peak_rss_mb']['value']:>8.0f} MB  (ru_maxrss of children: a high-water "
        "mark over every read; '<=' in a row: that read did not raise it)"
    )


# --- --narrate: the real stages, and the narration they make ---------------------------------------------


def as_document(stored: Any) -> SimpleNamespace:
    """A stored PaperDocument shaped like the reader's Document (what prose_of and judge read)."""
    sections = [
        SimpleNamespace(
            title=str(s.get("title", "")),
            level=int(s.get("level", 1)),
            kind=str(s.get("kind", "body")),
            paragraphs=[
                SimpleNamespace(text=str(p["text"]), pages=p.get("pages", [])) for p in s.get("paragraphs", [])
            ],
        )
        for s in stored.sections
    ]
    return SimpleNamespace(
        title=stored.title, authors=list(stored.authors), abstract=stored.abstract, sections=sections
    )


def content_words(text: str) -> list[str]:
    """The words of 4+ letters that are not stopwords, once each, in order."""
    from media_pipeline.backends.llm.extractive import STOPWORDS

    return list(dict.fromkeys(w for w in re.findall(r"[^\W\d_]{4,}", plain(text)) if w not in STOPWORDS))


def subject_check(spans: list[dict[str, Any]], texts: dict[int, str], label: dict[str, Any]) -> dict[str, Any]:
    """Whether the sentences that start in the first SUBJECT_SECONDS hold the labelled title, or two of its
    content words. The first sentence is the opening, which names the title the reader found: the title words
    said after it (`words_said_after_opening`) show whether the narration itself gets to the subject."""
    early = [
        texts.get(int(s["sentence"]), "") for s in spans if s.get("sentence") and float(s["start"]) < SUBJECT_SECONDS
    ]
    said = norm(" ".join(early))
    title_words = content_words(label["title"])

    def found(text: str) -> tuple[bool, list[str]]:
        heard = set(re.findall(r"[^\W\d_]+", plain(text)))
        whole = any(norm(t) in norm(text) for t in [label["title"], *label["title_alt"]])
        return whole, [w for w in title_words if w in heard]

    whole, words = found(said)
    _, after_opening = found(" ".join(early[1:]))
    return {
        "pass": whole or len(words) >= 2,
        "title_said": whole,
        "title_words": title_words,
        "words_said": words,
        "words_said_after_opening": after_opening,
        "sentences": early,
    }


def length_check(audio_seconds: float | None, minutes: int, predicted: float | None) -> dict[str, Any]:
    target = minutes * 60.0
    error = None if audio_seconds is None else (audio_seconds - target) / target
    return {
        "pass": error is not None and abs(error) <= LENGTH_TOLERANCE,
        "audio_seconds": audio_seconds,
        "target_seconds": target,
        "error": error,
        "script_seconds": predicted,  # what the script stage expected the narration to last
    }


def chapters_check(sections: list[str], document: Any) -> dict[str, Any]:
    """The script's chapters (its distinct sections, less the opening and the abstract) against the document's
    top-level section names."""
    from media_pipeline.backends.llm.script import section_name

    chapters = list(dict.fromkeys(s for s in sections if s not in ("", "Abstract")))
    top = {section_name(s.title) for s in document.sections if s.level == 1}
    wrong = [c for c in chapters if c not in top]
    return {"pass": bool(chapters) and not wrong, "chapters": chapters, "not_sections": wrong}


def narrate_paper(pdf: Path, label: dict[str, Any], minutes: list[int], project: Any) -> dict[str, Any]:
    """The paper uploaded to the project and extracted once; then, per minutes value, scripted and narrated
    and its narration checked."""
    from media_pipeline.selectors import document_current
    from media_pipeline.stages import extract, no_progress
    from projects import services

    row: dict[str, Any] = {"file": pdf.name, "error": "", "runs": {}}
    with pdf.open("rb") as handle:
        paper = services.paper_create_from_pdf(project=project, file=handle, filename=pdf.name)
    started = time.perf_counter()
    try:
        extract.run(paper, force=False, progress=no_progress)
    except Exception as exc:  # a PDF the stage refuses (PermanentError) or a reader crash: every check fails
        row["error"] = f"extract: {type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc()
    row["extract_seconds"] = time.perf_counter() - started
    paper.refresh_from_db()
    row["title"] = paper.title
    stored = document_current(paper)
    document = as_document(stored) if stored is not None else None
    for value in minutes:
        row["runs"][str(value)] = narrate_run(paper, document, label, value)
        run = row["runs"][str(value)]
        audio = run["length"]["audio_seconds"]
        print(
            f"  {value} min: script {run.get('script_seconds', 0):.1f} s, narrate {run.get('narrate_seconds', 0):.1f} s"
            + (f" ({audio:.0f} s of audio)" if audio is not None else "")
            + (f": {run['error'][:120]}" if run["error"] else ""),
            file=sys.stderr,
            flush=True,
        )
    return row


def narrate_run(paper: Any, document: Any, label: dict[str, Any], minutes: int) -> dict[str, Any]:
    """Script and narrate the paper at `minutes`; the four checks on what they made (failed where nothing was)."""
    from media_pipeline.models import ScriptSentence
    from media_pipeline.selectors import script_current
    from media_pipeline.stages import narrate, no_progress, script
    from projects.models import Paper

    run: dict[str, Any] = {"minutes": minutes, "error": ""}
    sentences: list[Any] = []
    audio_seconds: float | None = None
    predicted: float | None = None
    spans: list[dict[str, Any]] = []
    if document is None:
        run["error"] = "no document: the extract stage failed"
    else:
        Paper.objects.filter(pk=paper.pk).update(script_minutes=minutes)
        paper.refresh_from_db()
        paper.project.script_minutes = minutes
        paper.project.save(update_fields=["script_minutes"])
        try:
            started = time.perf_counter()
            run["script_metrics"] = script.run(paper, force=False, progress=no_progress).metrics
            run["script_seconds"] = time.perf_counter() - started
            current = script_current(paper)
            assert current is not None
            predicted = current.seconds
            sentences = list(ScriptSentence.objects.filter(script=current).order_by("index"))
            started = time.perf_counter()
            metrics = narrate.run(paper, force=False, progress=no_progress).metrics
            run["narrate_seconds"] = time.perf_counter() - started
            run["narrate_metrics"] = metrics
            audio_seconds = float(cast(float, metrics["audio_seconds"]))
            spans = list(paper.narration_spans)
        except Exception as exc:
            run["error"] = f"{type(exc).__name__}: {exc}"
            run["traceback"] = traceback.format_exc()
    empty = SimpleNamespace(title="", authors=[], abstract="", sections=[])
    run["non_prose"] = prose_of([s.text for s in sentences], document or empty, label)
    run["non_prose"]["pass"] = bool(sentences) and run["non_prose"]["hit"] == 0
    run["subject"] = subject_check(spans, {s.pk: s.text for s in sentences}, label)
    run["length"] = length_check(audio_seconds, minutes, predicted)
    run["chapters"] = chapters_check([s.section for s in sentences], document or empty)
    said = {int(span["sentence"]): span for span in spans if span.get("sentence")}
    run["sentences"] = [  # the script as narrated: what each sentence is and where it is said
        {"section": s.section, "text": s.text, **{k: said.get(s.pk, {}).get(k) for k in ("start", "end")}}
        for s in sentences
    ]
    return run


def narrate_totals(rows: list[dict[str, Any]], minutes: list[int]) -> dict[str, dict[str, Any]]:
    """Per minutes value: how many papers pass each check, the non-prose sentences summed, the mean length error."""
    summary: dict[str, dict[str, Any]] = {}
    for value in minutes:
        runs = [r["runs"][str(value)] for r in rows]
        errors = [abs(r["length"]["error"]) for r in runs if r["length"]["error"] is not None]
        summary[str(value)] = {
            "papers": len(runs),
            **{name: sum(r[name]["pass"] for r in runs) for name in CHECKS},
            "non_prose_sentences": {
                "hit": sum(r["non_prose"]["hit"] for r in runs),
                "of": sum(r["non_prose"]["of"] for r in runs),
            },
            "mean_abs_length_error": sum(errors) / len(errors) if errors else None,
        }
    return summary


def narrate_report(
    rows: list[dict[str, Any]], summary: dict[str, dict[str, Any]], minutes: list[int], verbose: bool
) -> None:
    def yes(ok: bool) -> str:
        return "pass" if ok else "FAIL"

    for r in rows if verbose else []:
        print(f"\n== {r['file']}: {r.get('title', '')!r}" + (f"  ERROR: {r['error']}" if r["error"] else ""))
        print(r.get("traceback", ""), end="")
        for value in minutes:
            run = r["runs"][str(value)]
            print(f"  -- {value} min" + (f"  ERROR: {run['error']}" if run["error"] else ""))
            print(run.get("traceback", ""), end="")
            for o in run["non_prose"]["offending"]:
                print(f"  non-prose [{', '.join(o['reasons'])}]: {o['text']}")
            s = run["subject"]
            print(
                f"  subject {yes(s['pass'])}: title said {s['title_said']}, title words said {s['words_said']} of "
                f"{s['title_words']} (after the opening: {s['words_said_after_opening']})"
            )
            for text in s["sentences"]:
                print(f"    first {SUBJECT_SECONDS:.0f} s: {text}")
            n = run["length"]
            if n["audio_seconds"] is not None:
                print(
                    f"  length {yes(n['pass'])}: {n['audio_seconds']:.1f} s of {n['target_seconds']:.0f} s "
                    f"({n['error']:+.1%}; the script expected {n['script_seconds']:.1f} s)"
                )
            c = run["chapters"]
            print(f"  chapters {yes(c['pass'])}: {c['chapters']}")
            if c["not_sections"]:
                print(f"    not top-level sections: {c['not_sections']}")
    print(f"\n{'paper':<26}{'min':>4}{'sents':>6}{'non-prose':>10}  {'subject':<8}{'audio s':>8}{'error':>8}  chapters")
    for r in rows:
        for value in minutes:
            run = r["runs"][str(value)]
            n, length = run["non_prose"], run["length"]
            audio = f"{length['audio_seconds']:.0f}" if length["audio_seconds"] is not None else "-"
            error = f"{length['error']:+.1%}" if length["error"] is not None else "-"
            chapters = run["chapters"]
            print(
                f"{Path(r['file']).stem[:25]:<26}{value:>4}{n['of']:>6}{n['hit']:>10}  {yes(run['subject']['pass']):<8}"
                f"{audio:>8}{error:>8}{'':2}{yes(chapters['pass'])} ({len(chapters['chapters'])}"
                + (f", {len(chapters['not_sections'])} not sections)" if chapters["not_sections"] else ")")
            )
            if run["error"]:
                print(f"    FAILED: {run['error'][:200]}")
    print(
        f"\npapers passing each check (non-prose: no such sentence; subject: in the first {SUBJECT_SECONDS:.0f} s; "
        f"length: within {LENGTH_TOLERANCE:.0%}; chapters: all top-level sections)"
    )
    for value in minutes:
        t = summary[str(value)]
        mean = t["mean_abs_length_error"]
        print(
            f"  {value} min: non-prose {t['non_prose']}/{t['papers']} ({t['non_prose_sentences']['hit']} of "
            f"{t['non_prose_sentences']['of']} sentences), subject {t['subject']}/{t['papers']}, length "
            f"{t['length']}/{t['papers']}"
            + (f" (mean |error| {mean:.1%})" if mean is not None else "")
            + f", chapters {t['chapters']}/{t['papers']}"
        )


# --- --render: the whole pipeline to a video, and what its slides show -------------------------------------


def said_words(text: str) -> list[str]:
    """The words of a text as the verbatim check compares them: case folded, without accents or punctuation
    ("8.1" and "don't" stay one word, "open-access" is two)."""
    return re.findall(r"[^\W_]+(?:(?:'|[.,](?=\d))[^\W_]+)*", plain(text))


def longest_run(words: list[str], said: list[str]) -> int:
    """The most consecutive words of `words` that also appear, in that order, in `said`."""
    best, previous = 0, [0] * (len(said) + 1)
    for word in words:
        current = [0] * (len(said) + 1)
        for j, other in enumerate(said, start=1):
            if word == other:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def verbatim(phrases: list[str], narration: str) -> list[dict[str, Any]]:
    """The slide's phrases that repeat the scene's narration: VERBATIM_WORDS+ words found in it as they stand,
    or a whole sentence of it (any length)."""
    said = said_words(narration)
    joined = f" {' '.join(said)} "
    sentences = {tuple(w) for s in re.split(r"(?<=[.!?])\s+", narration) if (w := said_words(s))}
    hits = []
    for phrase in phrases:
        words = said_words(phrase)
        if not words:
            continue
        # Its length in words as written ("open-access" is one), its match on said_words (case, punctuation aside).
        long = len([w for w in phrase.split() if said_words(w)]) >= VERBATIM_WORDS
        contained = long and f" {' '.join(words)} " in joined
        if contained or tuple(words) in sentences:
            hits.append({"phrase": phrase, "why": "a whole sentence" if tuple(words) in sentences else "verbatim"})
    return hits


def grab_frame(video: Path, at: float, out: Path) -> bool:
    """The frame on screen at `at` seconds as a PNG (False when ffmpeg makes none). Without -noaccurate_seek,
    ffmpeg drops every frame that starts before `at`, and a still-mode video has one frame a scene (each an
    IDR frame, held until the next): it would give the next scene's picture. With it, the decoder starts at the
    last keyframe at or before `at`: the frame on screen in still mode, at most a GOP early in motion mode."""
    command = [
        "ffmpeg", "-v", "error", "-y", "-ss", f"{at:.3f}", "-noaccurate_seek", "-i", str(video),
        "-frames:v", "1", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    return done.returncode == 0 and out.is_file() and out.stat().st_size > 0


def clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def contact_sheet(frames: list[tuple[Path | None, dict[str, Any]]], heading: str, out: Path) -> None:
    """The frames in a grid of SHEET_COLUMNS, each SHEET_WIDTH px wide, its scene number, time and what it
    shows under it (in red: the checks it fails)."""
    from PIL import Image as PILImage
    from PIL import ImageDraw

    from media_pipeline.backends.images.slides import font

    pictures: list[PILImage.Image | None] = []
    for path, _ in frames:
        if path is None:
            pictures.append(None)
            continue
        with PILImage.open(path) as source:
            picture = source.convert("RGB")
        height = round(picture.height * SHEET_WIDTH / picture.width)
        pictures.append(picture.resize((SHEET_WIDTH, height), PILImage.Resampling.LANCZOS))
    cell_h = max((p.height for p in pictures if p is not None), default=round(SHEET_WIDTH * 9 / 16))
    gap, label_h, top = 12, 46, 56
    columns = min(SHEET_COLUMNS, max(len(frames), 1))
    rows = max((len(frames) + SHEET_COLUMNS - 1) // SHEET_COLUMNS, 1)
    sheet = PILImage.new(
        "RGB", (gap + columns * (SHEET_WIDTH + gap), top + rows * (cell_h + label_h + gap)), (32, 32, 32)
    )
    draw = ImageDraw.Draw(sheet)
    draw.text((gap, 14), heading, font=font(22, bold=True), fill=(240, 240, 240))
    face = font(17)
    for n, (shot, (_, scene)) in enumerate(zip(pictures, frames, strict=True)):
        x = gap + (n % SHEET_COLUMNS) * (SHEET_WIDTH + gap)
        y = top + (n // SHEET_COLUMNS) * (cell_h + label_h + gap)
        if shot is None:
            draw.rectangle([x, y, x + SHEET_WIDTH, y + cell_h], outline=(200, 60, 60), width=3)
            draw.text((x + 12, y + 12), "no frame", font=face, fill=(230, 90, 90))
        else:
            sheet.paste(shot, (x, y))
        text = f"scene {scene['scene']}  {clock(scene['at'])}  ({clock(scene['start'])}-{clock(scene['end'])})"
        draw.text((x, y + cell_h + 4), text, font=face, fill=(235, 235, 235))
        flags = (["VERBATIM"] if scene["verbatim"] else []) + (["SHORTENED"] if scene["shortened"] else [])
        shows = str(scene["shows"] or "-")
        draw.text((x, y + cell_h + 24), shows, font=face, fill=(170, 200, 240))
        if flags:
            right = x + SHEET_WIDTH - draw.textlength(" ".join(flags), font=face)
            draw.text((right, y + cell_h + 24), " ".join(flags), font=face, fill=(240, 90, 90))
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, format="PNG", optimize=False)


def render_paper(pdf: Path, minutes: int, project: Any, sheets: Path) -> dict[str, Any]:
    """The paper uploaded and run through every stage to a video; then its scenes, slides, video and
    thumbnail measured, and its contact sheet written."""
    from PIL import Image as PILImage

    from media_pipeline import pipeline
    from media_pipeline.files import local_path
    from media_pipeline.models import Chunk, Image, StageRun, Video
    from projects import services
    from projects.models import Paper

    row: dict[str, Any] = {"file": pdf.name, "minutes": minutes, "error": "", "scenes": []}
    with pdf.open("rb") as handle:
        paper = services.paper_create_from_pdf(project=project, file=handle, filename=pdf.name)
    Paper.objects.filter(pk=paper.pk).update(script_minutes=minutes)

    def progress(event: Any) -> None:
        if event.status in ("succeeded", "failed"):
            took = f" in {event.seconds:.1f} s" if event.seconds is not None else ""
            print(f"  {event.stage} {event.status}{took}" + (f": {event.error[:160]}" if event.error else ""),
                  file=sys.stderr, flush=True)  # fmt: skip

    started = time.perf_counter()
    try:
        with pipeline.observe(progress), pipeline.inline():
            pipeline.pipeline_start(paper)
            pipeline.drain()
    except Exception as exc:  # a gated or busy pipeline, or a stage that crashed outside its run
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc()
    row["wall_seconds"] = time.perf_counter() - started
    paper.refresh_from_db()
    row["title"] = paper.title
    runs = list(StageRun.objects.filter(paper=paper).order_by("created_at", "id"))
    row["stages"] = [
        {"stage": r.stage, "status": r.status, "seconds": r.seconds, "error": r.error, "metrics": r.metrics}
        for r in runs
    ]
    failed = [r for r in runs if r.status == "failed"]
    if failed and not row["error"]:
        row["error"] = f"{failed[0].stage}: {failed[0].error}"
    video = Video.objects.filter(paper=paper).first()
    if video is None:
        row["error"] = row["error"] or "no video was rendered"
        return row
    row["video"] = {"duration": video.duration, "width": video.width, "height": video.height}
    target = minutes * 60.0
    row["length"] = {"seconds": video.duration, "target": target, "error": (video.duration - target) / target}
    work = Path(tempfile.mkdtemp(prefix="papercast-bench-render-"))
    try:
        mp4 = local_path(video.file, work, "video")
        thumbnail = video.thumbnail.name or ""
        if thumbnail and video.thumbnail.storage.exists(thumbnail):
            data = video.thumbnail.read()
            video.thumbnail.close()
            with PILImage.open(io.BytesIO(data)) as picture:
                size = picture.size
            sheets.mkdir(parents=True, exist_ok=True)
            copy = sheets / f"{pdf.stem}-thumbnail{Path(thumbnail).suffix}"
            copy.write_bytes(data)
            row["thumbnail"] = {"bytes": len(data), "width": size[0], "height": size[1], "copy": str(copy)}
        frames: list[tuple[Path | None, dict[str, Any]]] = []
        for chunk in Chunk.objects.filter(paper=paper).order_by("index"):
            image = Image.objects.filter(chunk=chunk, selected=True).first()
            params = dict(image.params) if image is not None else {}
            text = [str(t) for t in params.get("text") or []]
            phrases = text[1:]
            at = min((chunk.start + chunk.end) / 2, max(video.duration - 0.05, 0.0))
            scene = {
                "scene": chunk.index + 1,
                "start": chunk.start,
                "end": chunk.end,
                "at": at,
                "backend": image.backend if image is not None else "",
                "shows": params.get("shows", ""),
                "text": text,
                "shortened": list(params.get("shortened") or []),
                "verbatim": verbatim(phrases, chunk.text),
                "longest_run": max((longest_run(said_words(p), said_words(chunk.text)) for p in phrases), default=0),
                "narration": chunk.text,
            }
            out = work / f"scene-{chunk.index + 1:03d}.png"
            frames.append((out if grab_frame(mp4, at, out) else None, scene))
            row["scenes"].append(scene)
        heading = (
            f"{pdf.name}: {paper.title[:90]}  ({clock(video.duration)} of {minutes}:00, {video.width}x{video.height})"
        )
        sheet = sheets / f"{pdf.stem}.png"
        contact_sheet(frames, heading, sheet)
        row["sheet"] = str(sheet)
    except Exception as exc:  # a video that cannot be read back, a frame that cannot be decoded
        row["error"] = row["error"] or f"measuring the video: {type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc()
        return row
    finally:
        shutil.rmtree(work, ignore_errors=True)
    scenes = row["scenes"]
    row["counts"] = {
        "scenes": len(scenes),
        "figure_or_table": sum(1 for s in scenes if s["shows"] and s["shows"] not in ("title slide", "slide")),
        "verbatim": sum(1 for s in scenes if s["verbatim"]),
        "shortened": sum(1 for s in scenes if s["shortened"]),
        "no_frame": sum(1 for path, _ in frames if path is None),
    }
    return row


def render_report(rows: list[dict[str, Any]], verbose: bool) -> None:
    for r in rows if verbose else []:
        print(f"\n== {r['file']}: {r.get('title', '')!r}" + (f"  ERROR: {r['error']}" if r["error"] else ""))
        print(r.get("traceback", ""), end="")
        for stage in r.get("stages", []):
            took = f"{stage['seconds']:.1f} s" if stage["seconds"] is not None else "-"
            print(
                f"  {stage['stage']:<10} {stage['status']:<9} {took:>8}"
                + (f"  {stage['error'][:160]}" if stage["error"] else "")
            )
        for s in r["scenes"]:
            marks = (" VERBATIM" if s["verbatim"] else "") + (" SHORTENED" if s["shortened"] else "")
            print(
                f"  {s['scene']:>3} {clock(s['start']):>7}-{clock(s['end']):<7} {s['shows']!s:<12} {s['text']}{marks}"
            )
            for hit in s["verbatim"]:
                print(f"      repeats the narration ({hit['why']}): {hit['phrase']!r}")
            for text in s["shortened"]:
                print(f"      ellipsised: {text!r}")
    print(
        f"\n{'paper':<26}{'scenes':>7}{'fig/tab':>8}{'verbatim':>9}{'cut':>5}{'max run':>8}{'video s':>9}{'target':>7}"
        f"{'error':>8}{'thumb bytes':>12}{'thumb':>11}{'wall s':>8}"
    )
    for r in rows:
        c = r.get("counts")
        length, thumb = r.get("length"), r.get("thumbnail")
        if c is None or length is None:
            print(f"{Path(r['file']).stem[:25]:<26}  FAILED: {r['error'][:160]}")
            continue
        run = max((s["longest_run"] for s in r["scenes"]), default=0)
        size = f"{thumb['width']}x{thumb['height']}" if thumb else "-"
        print(
            f"{Path(r['file']).stem[:25]:<26}{c['scenes']:>7}{c['figure_or_table']:>8}{c['verbatim']:>9}"
            f"{c['shortened']:>5}{run:>8}{length['seconds']:>9.1f}{length['target']:>7.0f}{length['error']:>+8.1%}"
            f"{thumb['bytes'] if thumb else '-':>12}{size:>11}{r['wall_seconds']:>8.0f}"
        )
        if r["error"]:
            print(f"    {r['error'][:200]}")
    print(
        f"\nverbatim: scenes whose slide repeats the narration ({VERBATIM_WORDS}+ words as they stand, or a whole "
        "sentence; target 0); cut: slides with ellipsised text (target 0); max run: the longest run of words a "
        "slide phrase shares with its scene's narration"
    )
    for r in rows:
        if r.get("sheet"):
            print(f"  contact sheet {r['sheet']}")


def render_main(args: argparse.Namespace, labels: dict[str, dict[str, Any]], pdfs: list[Path], minutes: int) -> int:
    from django.conf import settings
    from django.contrib.auth.models import User

    from projects import services

    owner = User.objects.create_user("bench")
    project = services.project_create(name="Bench render", owner=owner, script_minutes=minutes)
    engines = {
        "voice": f"{settings.PAPERCAST_TTS_BACKEND}: {settings.PAPERCAST_PIPER_VOICE}",
        "whisper": f"{settings.PAPERCAST_TRANSCRIBER}: {settings.PAPERCAST_WHISPER_MODEL}",
        "script_writer": settings.PAPERCAST_LLM_BACKEND,
        "images": settings.PAPERCAST_IMAGE_BACKEND,
    }
    print(", ".join(f"{k} {v}" for k, v in engines.items()) + f", minutes {minutes}", file=sys.stderr)
    rows = []
    started = time.perf_counter()
    for n, pdf in enumerate(pdfs, start=1):
        sha = hashlib.sha256(pdf.read_bytes()).hexdigest()
        print(
            f"[{n}/{len(pdfs)}] {pdf.name} ({time.perf_counter() - started:.0f} s so far)", file=sys.stderr, flush=True
        )
        rows.append({"sha256": sha, "labelled": sha in labels, **render_paper(pdf, minutes, project, args.sheets)})
        if rows[-1]["error"]:
            print(f"  {rows[-1]['error'][:200]}", file=sys.stderr, flush=True)
    if not rows:
        print("no PDF found")
        return 1
    render_report(rows, args.verbose)
    if args.json:
        totals = {
            key: sum(r["counts"][key] for r in rows if "counts" in r)
            for key in ("scenes", "figure_or_table", "verbatim", "shortened")
        }
        result = {
            "mode": "render",
            "minutes": minutes,
            **engines,
            "verbatim_words": VERBATIM_WORDS,
            "totals": totals,
            "papers": rows,
        }
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", type=Path, help="folder with the PDFs")
    parser.add_argument("--json", type=Path, help="write every measure here")
    parser.add_argument(
        "--paper", action="append", help="only this PDF (file name or part of it); repeatable, or a comma list"
    )
    parser.add_argument(
        "--minutes",
        type=int,
        nargs="+",
        help="script length: one value for the offline script and --render (default 2), one or more with --narrate "
        "(default 2 5)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--narrate", action="store_true", help="script and narrate each paper with the real stages")
    mode.add_argument("--render", action="store_true", help="run each paper through every stage to a video")
    parser.add_argument(
        "--sheets", type=Path, default=SHEETS, help=f"--render's contact sheets go here (default {SHEETS})"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="details and the non-prose sentences")
    args = parser.parse_args()
    minutes: list[int] = args.minutes or ([2, 5] if args.narrate else [2])
    if not args.narrate and len(minutes) > 1:
        parser.error("several --minutes values need --narrate")
    if not all(1 <= m <= 60 for m in minutes):
        parser.error("a script is 1 to 60 minutes long")
    labels: dict[str, dict[str, Any]] = json.loads(LABELS.read_text())
    names = [n.strip() for value in args.paper or [] for n in value.split(",") if n.strip()]
    pdfs = sorted(p for p in args.dir.glob("*.pdf") if not names or any(n in p.name for n in names))
    if args.narrate or args.render:
        # Read by the settings when Django is set up: the voice narrate speaks with, and no silent espeak.
        os.environ.setdefault("PAPERCAST_PIPER_VOICE", str(VOICE))
        os.environ.setdefault("PAPERCAST_TTS_BACKEND", "piper")
        os.environ.setdefault("PAPERCAST_TTS_FALLBACK", "none")
    if args.render:
        # The whisper model transcribe loads (offline, as the tests do) and the offline slides.
        os.environ.setdefault("PAPERCAST_WHISPER_MODEL", str(WHISPER))
        os.environ.setdefault("PAPERCAST_IMAGE_BACKEND", "slides")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    data_dir = fresh_django()
    try:
        if args.render:
            return render_main(args, labels, pdfs, minutes[0])
        return narrate_main(args, labels, pdfs, minutes) if args.narrate else read_main(args, labels, pdfs, minutes[0])
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def read_main(args: argparse.Namespace, labels: dict[str, dict[str, Any]], pdfs: list[Path], minutes: int) -> int:
    rows = []
    for pdf in pdfs:
        sha = hashlib.sha256(pdf.read_bytes()).hexdigest()
        if sha not in labels:
            print(f"skipped {pdf.name}: no label for its sha256")
            continue
        rows.append({"sha256": sha, **score(pdf, labels[sha], minutes)})
        print(f"read {pdf.name}" + (f": {rows[-1]['error'][:120]}" if rows[-1]["error"] else ""), flush=True)
    if not rows:
        print("no labelled PDF found")
        return 1
    summary = totals(rows)
    report(rows, summary, args.verbose)
    if args.json:
        args.json.write_text(json.dumps({"targets": TARGETS, "totals": summary, "papers": rows}, indent=1) + "\n")
    return 0


def narrate_main(
    args: argparse.Namespace, labels: dict[str, dict[str, Any]], pdfs: list[Path], minutes: list[int]
) -> int:
    from django.conf import settings
    from django.contrib.auth.models import User

    from projects import services

    owner = User.objects.create_user("bench")
    project = services.project_create(name="Bench papers", owner=owner, script_minutes=minutes[0])
    voice = f"{settings.PAPERCAST_TTS_BACKEND}: {settings.PAPERCAST_PIPER_VOICE}"
    print(f"voice {voice}, script writer {settings.PAPERCAST_LLM_BACKEND}, minutes {minutes}", file=sys.stderr)
    chosen = [(pdf, hashlib.sha256(pdf.read_bytes()).hexdigest()) for pdf in pdfs]
    for pdf, sha in chosen:
        if sha not in labels:
            print(f"skipped {pdf.name}: no label for its sha256", file=sys.stderr)
    chosen = [(pdf, sha) for pdf, sha in chosen if sha in labels]
    rows = []
    started = time.perf_counter()
    for n, (pdf, sha) in enumerate(chosen, start=1):
        print(
            f"[{n}/{len(chosen)}] {pdf.name} ({time.perf_counter() - started:.0f} s so far)",
            file=sys.stderr,
            flush=True,
        )
        rows.append({"sha256": sha, **narrate_paper(pdf, labels[sha], minutes, project)})
        if rows[-1]["error"]:
            print(f"  {rows[-1]['error'][:200]}", file=sys.stderr, flush=True)
    if not rows:
        print("no labelled PDF found")
        return 1
    summary = narrate_totals(rows, minutes)
    narrate_report(rows, summary, minutes, args.verbose)
    if args.json:
        result = {
            "mode": "narrate",
            "minutes": minutes,
            "voice": voice,
            "script_writer": settings.PAPERCAST_LLM_BACKEND,
            "subject_seconds": SUBJECT_SECONDS,
            "length_tolerance": LENGTH_TOLERANCE,
            "totals": summary,
            "papers": rows,
        }
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
