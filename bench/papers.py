"""The PDF reader on real papers, scored against hand-made labels (issue 14): titles, authors, abstracts,
top-level sections, figures and tables found, non-prose sentences in the offline narration script, and the
reader child's seconds a page and peak memory.

Usage: python bench/papers.py DIR [--json OUT] [--paper NAME] [--minutes 2] [--verbose]
DIR holds the PDFs, which stay outside the repo; bench/papers_labels.json holds their labels keyed by each
PDF's sha256, and a PDF without a label is skipped. Each PDF is read as the extract stage reads it (read_pdf,
build_document, cut_figures, the check for pages without text), in a Django set up on a fresh temporary data dir; a read
that fails misses every measure. Targets: titles 100 %, abstracts >= 90 %, sections >= 90 %,
figures and tables >= 85 %.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import re
import resource
import shutil
import tempfile
import time
import traceback
import unicodedata
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from benchsetup import fresh_django
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
    """The extractive script's sentences, as the script stage writes them at the default rate (150 words/min)."""
    from media_pipeline.backends.llm.script import ExtractiveScriptWriter
    from media_pipeline.stages.script import source_for

    # source_for reads only these fields of the paper and of its stored PaperDocument.
    project = SimpleNamespace(script_minutes=minutes, words_per_minute=150.0)
    paper = SimpleNamespace(title=document.title[:300], script_minutes=minutes, project=project)
    stored = SimpleNamespace(
        authors=document.authors,
        abstract=document.abstract,
        sections=[
            {
                "title": s.title,
                "level": s.level,
                "paragraphs": [{"text": p.text, "pages": p.pages} for p in s.paragraphs],
            }
            for s in document.sections
        ],
    )
    source = source_for(cast(Any, paper), cast(Any, stored))
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
    text = " ".join([document.abstract, *(p.text for s in document.sections for p in s.paragraphs)]).lower()
    tokens = re.findall(r"[a-z]+", text)
    words, pairs = Counter(tokens), Counter(itertools.pairwise(tokens))
    headings = [_SECTION_NUMBER.sub("", t) for t in [*found, *label["sections"]]] + list(_FRONT_HEADINGS)
    offending = [{"text": s, "reasons": r} for s in sentences if (r := non_prose(s, headings, words, pairs))]
    result["non_prose"] = {
        "hit": len(offending),
        "of": len(sentences),
        "words": sum(len(s.split()) for s in sentences),
        "reasons": dict(Counter(r.split(" (")[0] for o in offending for r in o["reasons"])),
        "offending": offending,
    }
    return result


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", type=Path, help="folder with the PDFs")
    parser.add_argument("--json", type=Path, help="write every measure here")
    parser.add_argument("--paper", action="append", help="only this PDF (file name or part of it); repeatable")
    parser.add_argument("--minutes", type=int, default=2, help="offline script length (150 words a minute)")
    parser.add_argument("--verbose", "-v", action="store_true", help="details and the non-prose sentences")
    args = parser.parse_args()
    labels: dict[str, dict[str, Any]] = json.loads(LABELS.read_text())
    pdfs = sorted(p for p in args.dir.glob("*.pdf") if not args.paper or any(n in p.name for n in args.paper))
    data_dir = fresh_django()
    rows = []
    try:
        for pdf in pdfs:
            sha = hashlib.sha256(pdf.read_bytes()).hexdigest()
            if sha not in labels:
                print(f"skipped {pdf.name}: no label for its sha256")
                continue
            rows.append({"sha256": sha, **score(pdf, labels[sha], args.minutes)})
            print(f"read {pdf.name}" + (f": {rows[-1]['error'][:120]}" if rows[-1]["error"] else ""), flush=True)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    if not rows:
        print("no labelled PDF found")
        return 1
    summary = totals(rows)
    report(rows, summary, args.verbose)
    if args.json:
        args.json.write_text(json.dumps({"targets": TARGETS, "totals": summary, "papers": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
