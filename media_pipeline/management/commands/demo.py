"""demo: make a video from the bundled sample text, inline, with embedded defaults."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, TextIO, cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from media_pipeline.management.commands._runner import run_pipeline
from media_pipeline.pipeline import PipelineError
from media_pipeline.report import paper_report
from projects import services

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "demo.txt"
SAMPLE_PDF = Path(__file__).resolve().parents[2] / "samples" / "sample-paper.pdf"
DEMO_USER = "demo"


class Command(BaseCommand):
    help = (
        "Create a demo project and paper from the bundled sample text (or, with --pdf, the bundled sample paper) "
        "and run the whole pipeline inline."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--text", type=Path, default=SAMPLE, help="Narrate this text file instead of the sample.")
        parser.add_argument(
            "--pdf",
            type=Path,
            nargs="?",
            const=SAMPLE_PDF,
            help="Make the video from a paper as a PDF (default: the bundled three-page sample paper).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user, password = self._demo_user()
        project = services.project_get_or_create(slug="demo", name="Demo", owner=user)
        if options["pdf"]:
            with options["pdf"].open("rb") as handle:
                paper = services.paper_create_from_pdf(
                    project=project, file=handle, filename=options["pdf"].name, created_by=user, script_minutes=1
                )
        else:
            with options["text"].open("rb") as handle:
                paper = services.paper_create_from_text(
                    project=project,
                    title="How a swarm of bees chooses a home",
                    file=handle,
                    filename=options["text"].name,
                    created_by=user,
                )
        self.stderr.write(f"Demo paper {paper.pk}: reading, narrating, transcribing, illustrating and rendering…")
        try:
            outcome = run_pipeline(paper, stream=cast(TextIO, self.stderr._out), requested_by=user)
        except PipelineError as exc:
            raise CommandError(str(exc)) from exc
        paper.refresh_from_db()
        report = paper_report(paper)
        if outcome.failures:
            failed = outcome.failures[-1]
            raise CommandError(f"The {failed.stage} stage failed: {failed.error}")
        admin_url = f"{settings.SITE_URL}/admin/projects/paper/{paper.pk}/change/"
        self.stdout.write(self.style.SUCCESS("The demo video is ready."))
        self.stdout.write(f"  MP4:        {report['video']}")
        self.stdout.write(f"  Captions:   {report['captions']['srt']}")
        self.stdout.write(f"  WebVTT:     {report['captions']['vtt']}")
        self.stdout.write(f"  Thumbnail:  {report['thumbnail']}")
        self.stdout.write(f"  Length:     {report['duration']:.1f} s in {len(report['scenes'])} scenes")
        self.stdout.write(f"  Admin page: {admin_url}  (start the web server with `make run` first)")
        if password:
            self.stdout.write(f"  Log in as {DEMO_USER!r} with the password {password!r} (shown only this once).")

    def _demo_user(self) -> tuple[Any, str | None]:
        User = get_user_model()
        user = User.objects.filter(username=DEMO_USER).first()
        if user is not None:
            return user, None
        password = secrets.token_urlsafe(12)
        user = User.objects.create_user(username=DEMO_USER, password=password, is_staff=True)
        return user, password
