"""makevideo: turn a text file, an audio file or an existing paper into a video, from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO, cast

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from media_pipeline.management.commands._runner import run_pipeline
from media_pipeline.models import Stage
from media_pipeline.pipeline import PipelineError
from media_pipeline.report import paper_report
from projects import services
from projects.models import Paper

DEFAULT_PROJECT = "default"


class Command(BaseCommand):
    help = (
        "Make a narrated explainer video from --text FILE, --audio FILE, or resume --paper ID. "
        "Progress goes to stderr; with --json one JSON object goes to stdout."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--text", type=Path, help="A UTF-8 text file to narrate.")
        source.add_argument("--audio", type=Path, help="Narration audio (wav, flac, mp3, m4a, ogg/opus, webm).")
        source.add_argument("--paper", type=int, help="Resume the pipeline of an existing paper.")
        parser.add_argument("--title", help="The paper's title (default: from the file name).")
        parser.add_argument("--project", default=DEFAULT_PROJECT, help="Project slug (created if missing).")
        stages = [str(s) for s in Stage]
        parser.add_argument("--from", dest="from_stage", choices=stages, help="Redo this stage and the ones after.")
        parser.add_argument("--until", choices=stages, help="Stop after this stage.")
        parser.add_argument("--json", action="store_true", help="Print the result as one JSON object on stdout.")
        parser.add_argument(
            "--enqueue", action="store_true", help="Hand the stages to the qcluster workers and wait for them."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        paper = self._paper(options)
        self.stderr.write(f"Paper {paper.pk}: {paper.title!r} in project {paper.project.slug!r}")
        try:
            outcome = run_pipeline(
                paper,
                stream=cast(TextIO, self.stderr._out),
                from_stage=options["from_stage"],
                until=options["until"],
                enqueue=options["enqueue"],
            )
        except PipelineError as exc:
            raise CommandError(str(exc)) from exc
        if not outcome.started:
            self.stderr.write("Everything is up to date; nothing to do.")
        paper.refresh_from_db()
        report = paper_report(paper)
        if options["json"]:
            self.stdout.write(json.dumps(report, ensure_ascii=False))
        else:
            self._summary(report)
        if outcome.failures:
            failed = outcome.failures[-1]
            raise CommandError(f"The {failed.stage} stage failed: {failed.error}")

    def _paper(self, options: dict[str, Any]) -> Paper:
        if options["paper"] is not None:
            paper = Paper.objects.select_related("project").filter(pk=options["paper"]).first()
            if paper is None:
                raise CommandError(f"There is no paper with id {options['paper']}.")
            return paper
        path: Path = options["text"] or options["audio"]
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        project = services.project_get_or_create(slug=options["project"], name=options["project"], owner=None)
        title = options["title"] or path.stem.replace("_", " ").replace("-", " ").strip() or "Untitled"
        try:
            with path.open("rb") as handle:
                if options["text"]:
                    return services.paper_create_from_text(
                        project=project, title=title, file=handle, filename=path.name
                    )
                return services.paper_create_from_audio(project=project, title=title, file=handle, filename=path.name)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc

    def _summary(self, report: dict[str, Any]) -> None:
        self.stdout.write(f"Paper {report['paper']}: {report['title']}")
        for stage, info in report["stages"].items():
            seconds = f"{info['seconds']:.1f} s" if info["seconds"] is not None else ""
            self.stdout.write(f"  {stage:<10} {info['status']:<11} {seconds}")
        if report["video"]:
            self.stdout.write(f"Video:    {report['video']}")
            self.stdout.write(f"Captions: {report['captions']['srt']}")
