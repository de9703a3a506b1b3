"""extract: a paper's PDF (uploaded, or fetched from arXiv) -> PaperDocument (title, authors, abstract,
sections whose paragraphs keep their pages) and its captioned Figures, stored as PNGs.

arXiv papers: the identifier is looked up in the ArxivRecord cache first; only what is missing is fetched
(metadata from the export API, then the PDF), at most one request per 3 s. arXiv's metadata is taken for
the title, authors and abstract; the PDF gives the sections and figures.

Idempotency: the fingerprint covers the PDF (its generated storage name, which always means the same bytes;
for arXiv the identifier asked for) and this stage's version. A document with that fingerprint is reused.
A PDF that cannot be read is a PermanentError naming why (see media_pipeline.backends.pdf); a scanned PDF
without a text layer says it needs OCR.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from media_pipeline.backends.arxiv import ArxivEntry, get_arxiv_client
from media_pipeline.backends.errors import PermanentError
from media_pipeline.backends.images.png import verify_png
from media_pipeline.backends.pdf import cut_regions, read_pdf
from media_pipeline.files import delete_quietly, file_sha256, generated_name, local_path, paper_folder, private_tempdir
from media_pipeline.fingerprint import fingerprint
from media_pipeline.models import ArxivRecord, Figure, PaperDocument, Stage
from media_pipeline.runs import fence
from media_pipeline.stages import ProgressFn, StageResult
from media_pipeline.stages.document import Document, build_document
from projects.identifiers import parse_arxiv_id
from projects.models import Paper, SourceKind

VERSION = "extract-1"
name = Stage.EXTRACT
MIN_TEXT_PER_PAGE = 20  # characters on average; fewer means the pages are pictures without a text layer


def _source_key(paper: Paper) -> str:
    if paper.source_kind == SourceKind.ARXIV:
        try:
            return f"arxiv:{parse_arxiv_id(paper.arxiv_id)}"
        except ValueError as exc:
            raise PermanentError(str(exc)) from None
    if paper.source_kind != SourceKind.PDF:
        raise PermanentError("Only papers from a PDF or from arXiv have a document to extract.")
    if not paper.source_file or not paper.source_file.name:
        raise PermanentError("The paper has no PDF: upload one.")
    return f"pdf:{paper.source_file.name}"


def status(paper: Paper) -> tuple[str, bool]:
    fp = fingerprint(VERSION, _source_key(paper))
    return fp, PaperDocument.objects.filter(paper=paper, input_fingerprint=fp).exists()


def run(paper: Paper, *, force: bool, progress: ProgressFn) -> StageResult:
    fp, current = status(paper)
    if current and not force:
        return StageResult(fp, reused=True)
    entry: ArxivEntry | None = None
    fetched = 0
    if paper.source_kind == SourceKind.ARXIV:
        entry, fetched = _arxiv(paper)
        paper.refresh_from_db(fields=["source_file"])
    progress(0.3)
    with private_tempdir() as tmp:
        pdf = local_path(paper.source_file, tmp, "paper")
        out = tmp / "pages"
        out.mkdir()
        document = read_document(pdf, out)
        progress(0.7)
        _check_text(document)
        if entry is not None:
            document.title, document.authors, document.abstract = entry.title, list(entry.authors), entry.abstract
        saved = _save(paper, document, out, fp, entry)
    progress(1.0)
    return StageResult(
        fp,
        reused=False,
        metrics={
            "pages": document.page_count,
            "sections": len(document.sections),
            "figures": len(document.figures),
            "tables": len(document.tables),
            "stored": saved,
            "arxiv_requests": fetched,
        },
    )


def read_document(pdf: Path, out: Path) -> Document:
    """The paper's structure, its figures and tables cut out of their pages as PNGs in `out`.

    A figure or table whose region could not be rendered is left out; its caption stays in the text.
    """
    document = build_document(read_pdf(pdf, out))
    cut_figures(pdf, out, document)
    return document


def cut_figures(pdf: Path, out: Path, document: Document) -> None:
    """The document's figures and tables as PNGs in `out`; those that could not be rendered are dropped."""
    regions = [*document.figures, *document.tables]
    # A figure that is one embedded picture is that picture, already saved; the rest is rendered.
    to_cut = [f for f in regions if not f.width]
    sizes = cut_regions(pdf, out, [{"page": f.page, "box": f.box, "file": f.file} for f in to_cut])
    for region in to_cut:
        region.width, region.height = sizes.get(region.file, [0, 0])
    document.figures = [f for f in document.figures if f.width]
    document.tables = [t for t in document.tables if t.width]


def _check_text(document: Document) -> None:
    if document.characters < MIN_TEXT_PER_PAGE * max(document.page_count, 1):
        raise PermanentError(
            f"The PDF's {document.page_count} page(s) hold almost no text: it looks scanned (pictures of pages "
            "without a text layer), so it needs OCR first. Run it through an OCR program (for example "
            "`ocrmypdf in.pdf out.pdf`) and upload the result, or upload the paper's text."
        )


def _save(paper: Paper, document: Document, folder: Path, fp: str, entry: ArxivEntry | None) -> int:
    names: list[str] = []
    figures: list[Figure] = []
    saved = False
    try:
        for figure in [*document.figures, *document.tables]:
            data = (folder / figure.file).read_bytes()
            width, height = verify_png(data)
            name = default_storage.save(
                generated_name(f"{paper_folder(paper.project_id, paper.pk)}/figures", ".png"), ContentFile(data)
            )
            names.append(name)
            figures.append(
                Figure(
                    number=figure.number,
                    kind=figure.kind,
                    box=figure.box,
                    label=figure.label,
                    caption=figure.caption[:4000],
                    page=figure.page,
                    file=name,
                    width=width,
                    height=height,
                    sha256=hashlib.sha256(data).hexdigest(),
                )
            )
        with transaction.atomic():
            fence()
            row = PaperDocument.objects.create(
                paper=paper,
                input_fingerprint=fp,
                title=document.title[:500],
                authors=document.authors,
                abstract=document.abstract,
                page_count=document.page_count,
                sections=[
                    {
                        "title": s.title,
                        "level": s.level,
                        "number": s.number,
                        "kind": s.kind,
                        "paragraphs": [{"text": p.text, "pages": p.pages} for p in s.paragraphs],
                    }
                    for s in document.sections
                ],
                objects_found=[{"kind": o.kind, "page": o.page, "text": o.text[:2000]} for o in document.objects],
                warnings=document.warnings,
                arxiv_id=entry.arxiv_id if entry else "",
                categories=entry.categories if entry else [],
            )
            for figure_row in figures:
                figure_row.document = row
            Figure.objects.bulk_create(figures)
            # The paper learns what it is called and who wrote it; a title a person gave is kept.
            fields: dict[str, object] = {"authors": document.authors, "abstract": document.abstract}
            if paper.title_from_source and document.title:
                fields["title"] = document.title[:300]
            Paper.objects.filter(pk=paper.pk).update(**fields)
        saved = True
    finally:
        if not saved:  # no row points at the figures' files: they would be orphans
            delete_quietly(names)
    return len(figures)


# --- arXiv -----------------------------------------------------------------------------------------------


def _arxiv(paper: Paper) -> tuple[ArxivEntry, int]:
    """The paper's arXiv metadata and PDF, from the cache where possible; returns the requests made."""
    wanted = parse_arxiv_id(paper.arxiv_id)
    client = get_arxiv_client()
    requests = 0
    # A version asked for is that version; no version means the newest one fetched so far.
    known = (
        ArxivRecord.objects.filter(arxiv_id=str(wanted))
        if wanted.version
        else ArxivRecord.objects.filter(base_id=wanted.base).order_by("-fetched_at", "-id")
    )
    record = known.first()
    if record is None:
        entry = client.metadata(wanted)
        requests += 1
        record, _ = ArxivRecord.objects.get_or_create(
            arxiv_id=entry.arxiv_id,
            defaults={
                "base_id": wanted.base,
                "title": entry.title,
                "authors": entry.authors,
                "abstract": entry.abstract,
                "categories": entry.categories,
                "published": entry.published,
            },
        )
    if not record.pdf or not default_storage.exists(str(record.pdf.name)):
        with private_tempdir() as tmp:
            target = tmp / "paper.pdf"
            client.pdf(record.arxiv_id, target)
            requests += 1
            with target.open("rb") as handle:
                name = default_storage.save(generated_name("arxiv", ".pdf"), File(handle))
            ArxivRecord.objects.filter(pk=record.pk).update(pdf=name, pdf_sha256=file_sha256(target))
        record.refresh_from_db()
    if not paper.source_file:
        # The paper keeps its own copy under its project, where media access is checked.
        with record.pdf.open("rb") as handle:
            name = default_storage.save(generated_name(f"projects/{paper.project_id}/sources", ".pdf"), File(handle))
        if not Paper.objects.filter(pk=paper.pk, source_file="").update(
            source_file=name, source_filename=f"{record.arxiv_id}.pdf"
        ):
            delete_quietly([name])  # another attempt stored it first
    entry = ArxivEntry(
        arxiv_id=record.arxiv_id,
        title=record.title,
        authors=list(record.authors),
        abstract=record.abstract,
        categories=list(record.categories),
        published=record.published,
    )
    return entry, requests
