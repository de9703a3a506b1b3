"""makevideo: turn a text file, an audio file or an existing paper into a video, from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO, cast

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from media_pipeline.management.commands._runner import run_pipeline
from media_pipeline.models import Stage
from media_pipeline.pipeline import PipelineError, PipelineGated
from media_pipeline.report import paper_report
from media_pipeline.runs import gate_closed
from media_pipeline.selectors import script_current
from projects import services
from projects.models import Paper

DEFAULT_PROJECT = "default"


class Command(BaseCommand):
    help = (
        "Make a narrated explainer video from --pdf FILE, --arxiv ID, --text FILE, --audio FILE, or resume "
        "--paper ID. "
        "Progress goes to stderr; with --json one JSON object goes to stdout."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--pdf", type=Path, help="A paper as a PDF: read, scripted and narrated.")
        source.add_argument("--arxiv", metavar="ID", help="An arXiv identifier, e.g. 2202.08906 (not a URL).")
        source.add_argument("--text", type=Path, help="A UTF-8 text or Markdown file to narrate as it is.")
        source.add_argument("--audio", type=Path, help="Narration audio (wav, flac, mp3, m4a, ogg/opus, webm).")
        source.add_argument("--paper", type=int, help="Resume the pipeline of an existing paper.")
        parser.add_argument(
            "--title", help="The paper's title (default: a PDF's printed title, a text's heading, else the file name)."
        )
        parser.add_argument("--project", default=DEFAULT_PROJECT, help="Project slug (created if missing).")
        stages = [str(s) for s in Stage]
        parser.add_argument("--from", dest="from_stage", choices=stages, help="Redo this stage and the ones after.")
        parser.add_argument("--until", choices=stages, help="Stop after this stage.")
        parser.add_argument(
            "--minutes", type=int, help="Length of the narration written from a PDF or arXiv paper (1-60)."
        )
        parser.add_argument(
            "--approve-script", action="store_true", help="Approve the paper's script (projects that review them)."
        )
        parser.add_argument("--json", action="store_true", help="Print the result as one JSON object on stdout.")
        parser.add_argument(
            "--enqueue", action="store_true", help="Hand the stages to the qcluster workers and wait for them."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        paper = self._paper(options)
        self.stderr.write(f"Paper {paper.pk}: {paper.title!r} in project {paper.project.slug!r}")
        if options["approve_script"]:
            self._approve_script(paper)
        try:
            outcome = run_pipeline(
                paper,
                stream=cast(TextIO, self.stderr._out),
                from_stage=options["from_stage"],
                until=options["until"],
                enqueue=options["enqueue"],
            )
        except PipelineGated as exc:
            raise CommandError(f"{exc} Or run: manage.py makevideo --paper {paper.pk} --approve-script") from exc
        except PipelineError as exc:
            raise CommandError(str(exc)) from exc
        if not outcome.started:
            self.stderr.write("Everything is up to date; nothing to do.")
        waiting = gate_closed(Paper.objects.select_related("project").get(pk=paper.pk))
        if waiting:
            self.stderr.write(f"{waiting} Or run: manage.py makevideo --paper {paper.pk} --approve-script")
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
        project = services.project_get_or_create(slug=options["project"], name=options["project"], owner=None)
        if options["arxiv"]:
            try:
                return services.paper_create_from_arxiv(
                    project=project, arxiv_id=options["arxiv"], title=options["title"] or "",
                    script_minutes=options["minutes"],
                )  # fmt: skip
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from exc
        path: Path = options["pdf"] or options["text"] or options["audio"]
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        title = options["title"] or path.stem.replace("_", " ").replace("-", " ").strip() or "Untitled"
        if options["text"] and not options["title"]:
            # A text's own heading names it better than its file name ("fireflies").
            title = services.title_from_text(path.read_bytes()[:4096].decode("utf-8", "ignore")) or title
        try:
            with path.open("rb") as handle:
                if options["pdf"]:
                    return services.paper_create_from_pdf(
                        project=project, file=handle, filename=path.name, title=options["title"] or "",
                        script_minutes=options["minutes"],
                    )  # fmt: skip
                if options["text"]:
                    return services.paper_create_from_text(
                        project=project, title=title, file=handle, filename=path.name
                    )
                return services.paper_create_from_audio(
                    project=project, title=options["title"] or "", file=handle, filename=path.name
                )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc

    def _approve_script(self, paper: Paper) -> None:
        from media_pipeline.curation import script_approve

        script = script_current(paper)
        if script is None:
            raise CommandError("The paper has no script yet to approve: run makevideo without --approve-script first.")
        if script_approve(script, user=None):
            self.stderr.write(f"Approved script {script.pk} ({script.words} words).")

    def _summary(self, report: dict[str, Any]) -> None:
        self.stdout.write(f"Paper {report['paper']}: {report['title']}")
        for stage, info in report["stages"].items():
            seconds = f"{info['seconds']:.1f} s" if info["seconds"] is not None else ""
            self.stdout.write(f"  {stage:<10} {info['status']:<11} {seconds}")
        if report["video"]:
            self.stdout.write(f"Video:    {report['video']}")
            self.stdout.write(f"Captions: {report['captions']['srt']}")
