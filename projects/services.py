"""Writes to projects, memberships and papers. Admin actions, the API and commands all call these.

Creating a paper stores what the user handed in exactly as given (bytes included) and validates nothing
that a stage can report better: a text file that is not UTF-8, or audio that is not audio, becomes a failed
StageRun that says what is wrong, and the upload is kept. Only what must never be stored at all is refused
here: an upload over the size limit, and a file whose kind and name allow no safe stored suffix (a text
paper that is not .txt or .md, audio that is neither an allowed format nor so named; see projects.uploads).
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from projects.identifiers import parse_arxiv_id
from projects.models import Membership, Paper, Project, Role, SourceKind
from projects.uploads import stored_upload_name

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def project_create(*, name: str, owner: User | None, slug: str = "", **defaults: object) -> Project:
    """Create a project (and its owner's membership). Not idempotent: a taken slug raises ValidationError."""
    name = name.strip()
    if not name:
        raise ValidationError("A project needs a name.")
    slug = slugify(slug or name)[:80] or "project"
    with transaction.atomic():
        try:
            with transaction.atomic():
                project = Project.objects.create(name=name, slug=slug, **defaults)
        except IntegrityError:
            raise ValidationError(f"A project with the slug {slug!r} exists already: choose another.") from None
        if owner is not None:
            Membership.objects.create(project=project, user=owner, role=Role.OWNER)
    return project


def project_get_or_create(*, slug: str, name: str, owner: User | None) -> Project:
    """The project with this slug, created (with the owner as owner) if missing. Idempotent."""
    project = Project.objects.filter(slug=slug).first()
    if project is not None:
        if owner is not None:
            Membership.objects.get_or_create(project=project, user=owner, defaults={"role": Role.OWNER})
        return project
    try:
        return project_create(name=name, owner=owner, slug=slug)
    except ValidationError:
        # Lost a race with a concurrent creator of the same slug: theirs is as good as ours.
        return project_get_or_create(slug=slug, name=name, owner=owner)


def membership_set(*, project: Project, user: User, role: Role) -> Membership:
    """Give the user this role in the project (creating the membership if needed). Idempotent."""
    membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    return membership


def _clean_title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise ValidationError("A paper needs a title.")
    return title[:300]


def check_upload_size(size: int | None, what: str = "The file") -> None:
    """ValidationError for an upload over PAPERCAST_MAX_UPLOAD_MB (nothing is stored then); `what` names the
    upload in the message ("The background music 'bed.wav'")."""
    limit = settings.PAPERCAST_MAX_UPLOAD_BYTES
    if size is not None and size > limit:
        raise ValidationError(
            f"{what} is {size / 1e6:.1f} MB, larger than papercast accepts: the limit is {limit / 1e6:.0f} MB "
            "(PAPERCAST_MAX_UPLOAD_MB)."
        )


def title_from_text(text: str) -> str:
    """A text's title when it starts with one: a Markdown heading ("# Fireflies in sync"), a setext heading
    (a line underlined with = or -), or a short first line without a sentence's end; else ""."""
    lines = [line.strip() for line in text.lstrip("\ufeff").splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    if not lines:
        return ""
    first = lines[0]
    if first.startswith("#"):
        heading = first.lstrip("#").strip().rstrip("#").strip()
        return heading[:300] if heading else ""
    underlined = len(lines) > 1 and len(lines[1]) >= 3 and set(lines[1]) <= {"="} | {"-"} and len(set(lines[1])) == 1
    blank_after = len(lines) == 1 or not lines[1] or underlined
    words = first.split()
    if blank_after and 1 <= len(words) <= 15 and not first.endswith((".", ",", ";", ":", "!")):
        return first[:300]
    return ""


def paper_create_from_text(
    *,
    project: Project,
    title: str,
    text: str | None = None,
    file: IO[bytes] | None = None,
    filename: str = "script.txt",
    created_by: User | None = None,
    description: str = "",
) -> Paper:
    """A paper to narrate, from typed text or an uploaded .txt or .md file (its bytes stored as given). Not
    idempotent."""
    if (text is None and file is None) or (text is not None and file is not None):
        raise ValueError("Give either text or file.")
    paper = Paper(
        project=project,
        title=_clean_title(title),
        source_kind=SourceKind.TEXT,
        created_by=created_by,
        description=description.strip(),
    )
    if text is not None:
        paper.source_text = text
        paper.save()
        return paper
    if file is None:  # unreachable after the check above; keeps the type checker informed
        raise ValueError("Give either text or file.")
    django_file = File(file, name=filename)
    check_upload_size(django_file.size)
    stored_name = stored_upload_name("text", file, filename)
    paper.source_filename = filename[:300]
    # Saving the file first and the row second could orphan a file; the reverse could orphan a row
    # with no file. A row without its file is worse, so the file goes first.
    paper.source_file.save(stored_name, django_file, save=False)
    paper.save()
    return paper


def paper_create_from_audio(
    *,
    project: Project,
    title: str = "",
    file: IO[bytes],
    filename: str,
    created_by: User | None = None,
    description: str = "",
) -> Paper:
    """A paper from narration that already exists (a podcast, a NotebookLM overview). Not idempotent.

    The upload is the narration: the transcribe stage probes it and reports anything that is not audio. It is
    refused here (ValidationError) only when neither its first bytes nor its name show an allowed audio format.
    Without a title, the file's name stands in until the transcribe stage reads the recording's own title tag.
    """
    django_file = File(file, name=filename)
    check_upload_size(django_file.size)
    stored_name = stored_upload_name("audio", file, filename)
    given = " ".join(title.split())
    stem = filename.rsplit(".", 1)[0].replace("_", " ").replace("-", " ").strip() or "Untitled recording"
    paper = Paper(
        project=project,
        title=_clean_title(given or stem),
        title_from_source=not given,
        source_kind=SourceKind.AUDIO,
        source_filename=filename[:300],
        created_by=created_by,
        description=description.strip(),
    )
    paper.source_file.save(stored_name, django_file, save=False)
    paper.save()
    return paper


def _document_paper(
    *, project: Project, kind: SourceKind, title: str, fallback_title: str, created_by: User | None, description: str,
    script_minutes: int | None,
) -> Paper:  # fmt: skip
    if script_minutes is not None and not 1 <= script_minutes <= 60:
        raise ValidationError("A script is 1 to 60 minutes long.")
    given = " ".join(title.split())
    return Paper(
        project=project,
        title=_clean_title(given or fallback_title),
        title_from_source=not given,
        source_kind=kind,
        created_by=created_by,
        description=description.strip(),
        script_minutes=script_minutes,
    )


def paper_create_from_pdf(
    *,
    project: Project,
    file: IO[bytes],
    filename: str,
    title: str = "",
    created_by: User | None = None,
    description: str = "",
    script_minutes: int | None = None,
) -> Paper:
    """A paper from a PDF, stored as uploaded; the extract stage reads it (and reports a PDF it cannot read).

    Without a title, the one printed on the paper is taken when it is read. Not idempotent.
    """
    django_file = File(file, name=filename)
    check_upload_size(django_file.size)
    stem = filename.rsplit(".", 1)[0].replace("_", " ").replace("-", " ").strip() or "Untitled paper"
    paper = _document_paper(
        project=project, kind=SourceKind.PDF, title=title, fallback_title=stem, created_by=created_by,
        description=description, script_minutes=script_minutes,
    )  # fmt: skip
    paper.source_filename = filename[:300]
    paper.source_file.save(stored_upload_name("pdf", file, filename), django_file, save=False)
    paper.save()
    return paper


def paper_create_from_arxiv(
    *,
    project: Project,
    arxiv_id: str,
    title: str = "",
    created_by: User | None = None,
    description: str = "",
    script_minutes: int | None = None,
) -> Paper:
    """A paper from an arXiv identifier (never a URL: refused here, before anything is stored or fetched).

    Nothing is fetched now: the extract stage does that, politely and once. Not idempotent.
    """
    try:
        identifier = parse_arxiv_id(arxiv_id)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    paper = _document_paper(
        project=project, kind=SourceKind.ARXIV, title=title, fallback_title=f"arXiv:{identifier}",
        created_by=created_by, description=description, script_minutes=script_minutes,
    )  # fmt: skip
    paper.arxiv_id = str(identifier)
    paper.save()
    return paper
