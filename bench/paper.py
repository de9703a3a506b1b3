"""From a paper to a video, measured: reading a long PDF (wall time, the reader child's peak memory), writing
the script, narrating it (seconds of speech per second of work), and the whole pipeline on the sample paper.

Usage: python bench/paper.py [--pages 30] [--minutes 5] [--skip-pipeline]
Needs reportlab (requirements-dev.txt) to make the long PDF; set PAPERCAST_WHISPER_MODEL and
PAPERCAST_PIPER_VOICE as for the demo.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

from benchsetup import ROOT, fresh_django

WORDS = (
    "Scouts that find a promising cavity return to the swarm and dance for it, and the length of the dance "
    "grows with the quality of the site. Other scouts follow the dance, inspect the site, and dance for it "
    "in turn when they approve. Support for poor sites fades, while support for good sites grows, until a "
    "quorum of scouts gathers at one of them."
)


def long_paper(path: Path, pages: int) -> Path:
    """A paper of about `pages` pages: sections of body text, and a captioned figure every third page."""
    from PIL import Image, ImageDraw
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import inch
    from reportlab.platypus import Image as RLImage
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate

    styles = getSampleStyleSheet()
    story = [Paragraph("A Long Study of Swarm Decisions", styles["Title"]), Paragraph("Ada Lovelace", styles["Normal"])]
    story += [Paragraph("Abstract", styles["Heading2"]), Paragraph(WORDS, styles["BodyText"])]
    for page in range(1, pages + 1):
        story.append(Paragraph(f"{page} Section {page}", styles["Heading1"]))
        story += [Paragraph(WORDS, styles["BodyText"]) for _ in range(6)]
        if page % 3 == 0:
            picture = Image.new("RGB", (640, 400), (40 * (page % 6), 120, 200))
            ImageDraw.Draw(picture).line([(0, 400), (640, 0)], fill=(255, 255, 255), width=6)
            buffer = io.BytesIO()
            picture.save(buffer, format="PNG")
            buffer.seek(0)
            story.append(RLImage(buffer, width=4 * inch, height=2.5 * inch))
            story.append(Paragraph(f"Figure {page // 3}: Support over time in swarm {page}.", styles["BodyText"]))
        story.append(PageBreak())
    SimpleDocTemplate(str(path), pagesize=letter).build(story)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=30)
    parser.add_argument("--minutes", type=int, default=5)
    parser.add_argument("--skip-pipeline", action="store_true", help="skip the whole-pipeline run")
    args = parser.parse_args()
    data_dir = fresh_django()
    from django.conf import settings

    from media_pipeline import pipeline
    from media_pipeline.backends.pdf import read_pdf
    from media_pipeline.backends.tts import get_speaker
    from media_pipeline.models import StageRun
    from media_pipeline.stages import no_progress, script
    from media_pipeline.stages.document import build_document
    from media_pipeline.text import spoken
    from projects import services

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    work = Path(tempfile.mkdtemp(prefix="papercast-bench-paper-"))
    try:
        pdf = long_paper(work / "long.pdf", args.pages)
        out = work / "pages"
        out.mkdir()
        started = time.perf_counter()
        document = build_document(read_pdf(pdf, out))
        read_seconds = time.perf_counter() - started
        child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(
            f"read {pdf.stat().st_size / 1e6:.2f} MB, {document.page_count} pages: {read_seconds:.2f} s "
            f"({read_seconds / document.page_count * 1000:.0f} ms a page), reader peak {child_mb:.0f} MB "
            f"(limit {settings.PAPERCAST_PDF_MEMORY_MB} MB); {len(document.sections)} sections, "
            f"{len(document.figures)} figures"
        )

        project = services.project_get_or_create(slug="bench", name="Bench", owner=None)
        with pdf.open("rb") as handle:
            paper = services.paper_create_from_pdf(
                project=project, file=handle, filename="long.pdf", script_minutes=args.minutes
            )
        with pipeline.inline():
            pipeline.pipeline_start(paper, until="extract")
            pipeline.drain()
        started = time.perf_counter()
        result = script.run(paper, force=False, progress=no_progress)
        print(
            f"script ({settings.PAPERCAST_LLM_BACKEND}, {args.minutes} min): {time.perf_counter() - started:.2f} s, "
            f"{result.metrics['words']} words, {result.metrics['sentences']} sentences"
        )

        speaker = get_speaker(project)
        sentences = [spoken(s.text) for s in script.script_current(paper).sentences.order_by("index")[:12]]  # type: ignore[union-attr]
        started = time.perf_counter()
        audio = sum(speaker.speak(text, work / f"s{i}.wav") for i, text in enumerate(sentences))
        spent = time.perf_counter() - started
        pace = audio / spent
        print(f"narration ({speaker.identity()}): {audio:.1f} s of speech in {spent:.2f} s ({pace:.1f}x real time)")

        if not args.skip_pipeline:
            sample = ROOT / "media_pipeline" / "samples" / "sample-paper.pdf"
            with sample.open("rb") as handle:
                paper = services.paper_create_from_pdf(
                    project=project, file=handle, filename=sample.name, script_minutes=1
                )
            started = time.perf_counter()
            with pipeline.inline():
                pipeline.pipeline_start(paper)
                pipeline.drain()
            print(f"\nsample paper, whole pipeline: {time.perf_counter() - started:.2f} s wall")
            for run in StageRun.objects.filter(paper=paper).order_by("created_at"):
                print(f"  {run.stage:<10} {run.status:<9} {run.seconds or 0:7.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
