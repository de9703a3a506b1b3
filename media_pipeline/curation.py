"""What editors do between the pipeline's stages: edit a paper's script and approve it for narration, edit a
scene's words, choose its image, approve the video.

Every function records who did it. The pipeline never overwrites what these write: a summary edited by a
person is kept on re-runs (summarize skips it), and an image a person chose stays chosen (illustrate skips
the scene) until that person's inputs change: editing a scene's image prompt releases the choice, because it
was made for the old prompt.

Curation status (draft -> in_review -> approved -> published; approved -> in_review) is changed with
conditional UPDATEs, so two editors pressing buttons at once cannot skip a state.
"""

from __future__ import annotations

from difflib import SequenceMatcher
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from media_pipeline.backends.errors import BackendError
from media_pipeline.models import ACTIVE_STATUSES, Chunk, Image, Script, ScriptSentence, StageRun, Summary, Video
from media_pipeline.stages import render
from media_pipeline.text import figure_mentions, split_sentences
from projects.models import CurationStatus, Paper

if TYPE_CHECKING:
    from django.contrib.auth.models import User

EDITABLE_FIELDS = ("summary", "image_prompt")


class CurationError(Exception):
    """A curation step that cannot be taken now; the message says why, for the person who tried."""


def summary_edit(
    chunk: Chunk,
    *,
    user: User,
    summary: str | None = None,
    image_prompt: str | None = None,
    key_phrases: str | None = None,
) -> list[str]:
    """Write a person's summary, image prompt and/or slide key phrases (one a line, at most three) for the
    scene; returns the fields that changed.

    Idempotent: the same text again changes nothing (and is not marked as an edit). A changed image prompt
    releases a person's image choice for the scene, so the next illustrate run draws the new prompt.
    """
    wanted = {"summary": summary, "image_prompt": image_prompt}
    for name, value in wanted.items():
        if value is not None and not value.strip():
            raise CurationError(f"The {name.replace('_', ' ')} cannot be empty.")
    phrases = None if key_phrases is None else [" ".join(p.split()) for p in key_phrases.splitlines() if p.strip()]
    if phrases is not None and len(phrases) > 3:
        raise CurationError("A slide shows at most three key phrases: keep the three that matter most.")
    with transaction.atomic():
        row = Summary.objects.select_for_update().filter(chunk=chunk).first()
        if row is None:
            # No summary yet (summarize has not run): the person's words become the scene's summary.
            row = Summary(chunk=chunk, summary="", image_prompt="", backend="human", prompt_version="human")
        changed = [name for name, value in wanted.items() if value is not None and value.strip() != getattr(row, name)]
        if phrases is not None and phrases != list(row.key_phrases or []):
            changed.append("key_phrases")
        if not changed:
            return []
        for name in changed:
            setattr(row, name, phrases if name == "key_phrases" else str(wanted[name]).strip())
        row.edited_by_human = True
        row.edited_by = user
        row.edited_at = timezone.now()
        row.edited_fields = sorted({*row.edited_fields, *changed})
        row.save()
        if "image_prompt" in changed or "key_phrases" in changed:
            Image.objects.filter(chunk=chunk, selected_by_human=True).update(selected_by_human=False)
    return changed


def summary_reset(chunk: Chunk, *, user: User) -> bool:
    """Hand the scene's summary back to the model: the next summarize run writes it afresh. Idempotent."""
    return bool(
        Summary.objects.filter(chunk=chunk, edited_by_human=True).update(
            edited_by_human=False, edited_fields=[], edited_by=user, edited_at=timezone.now(), input_fingerprint=""
        )
    )


def image_select(image: Image, *, user: User) -> bool:
    """Make this candidate the scene's image, chosen by a person. Idempotent: False if it already was."""
    with transaction.atomic():
        # Lock the scene's candidates so a concurrent selection (or illustrate) waits for this one.
        candidates = list(Image.objects.select_for_update().filter(chunk_id=image.chunk_id).order_by("pk"))
        current = next((c for c in candidates if c.selected), None)
        if current is not None and current.pk == image.pk and current.selected_by_human:
            return False
        Image.objects.filter(chunk_id=image.chunk_id, selected=True).exclude(pk=image.pk).update(
            selected=False, selected_by_human=False
        )
        Image.objects.filter(pk=image.pk).update(selected=True, selected_by_human=True, selected_by=user)
    return True


def _move(paper: Paper, sources: tuple[str, ...], target: str) -> bool:
    return bool(
        Paper.objects.filter(pk=paper.pk, curation_status__in=sources).update(
            curation_status=target, updated_at=timezone.now()
        )
    )


def paper_submit_for_review(paper: Paper, *, user: User) -> None:
    """draft -> in_review. Idempotent for a paper already in review."""
    if not _move(paper, (CurationStatus.DRAFT,), CurationStatus.IN_REVIEW):
        paper.refresh_from_db(fields=["curation_status"])
        if paper.curation_status != CurationStatus.IN_REVIEW:
            raise CurationError(f"Only a draft can be sent for review; this paper is {paper.curation_status}.")


def approvable_video(paper: Paper) -> Video:
    """The video made from the paper's current scenes and choices, or CurationError saying what is missing."""
    if StageRun.objects.filter(paper=paper, status__in=ACTIVE_STATUSES).exists():
        raise CurationError("The pipeline is running for this paper: approve when it has finished.")
    try:
        fingerprint, current = render.status(paper)
    except BackendError as exc:  # the scenes are incomplete: say so rather than approve an old video
        raise CurationError(f"The video cannot be approved yet: {exc}") from exc
    if not current:
        if Video.objects.filter(paper=paper).exists():
            raise CurationError("The scenes changed since the last render: render the video again, then approve.")
        raise CurationError("There is no video yet: run the pipeline (or render), then approve.")
    return Video.objects.filter(paper=paper, settings_fingerprint=fingerprint).order_by("-created_at", "-id")[0]


def paper_approve(paper: Paper, *, user: User) -> tuple[Video, bool]:
    """draft | in_review -> approved, binding the approval to the current video (the one the uploader gets).

    Returns the video and whether anything changed. Idempotent: approving an approved paper whose current
    video is the approved one changes nothing.
    """
    video = approvable_video(paper)
    with transaction.atomic():
        moved = _move(paper, (CurationStatus.DRAFT, CurationStatus.IN_REVIEW), CurationStatus.APPROVED)
        if not moved:
            paper.refresh_from_db(fields=["curation_status"])
            if paper.curation_status != CurationStatus.APPROVED:
                raise CurationError(f"A {paper.curation_status} paper cannot be approved.")
        changed = moved or video.approved_at is None
        if video.approved_at is None:
            # Only one video of a paper is approved at a time: the uploader must never choose between two.
            Video.objects.filter(paper=paper).exclude(pk=video.pk).update(approved_at=None, approved_by=None)
            Video.objects.filter(pk=video.pk).update(approved_at=timezone.now(), approved_by=user)
    video.refresh_from_db()
    return video, changed


def paper_return_to_review(paper: Paper, *, user: User) -> None:
    """approved -> in_review, withdrawing the video's approval. Idempotent for a paper in review."""
    with transaction.atomic():
        if not _move(paper, (CurationStatus.APPROVED,), CurationStatus.IN_REVIEW):
            paper.refresh_from_db(fields=["curation_status"])
            if paper.curation_status != CurationStatus.IN_REVIEW:
                raise CurationError(
                    f"Only an approved paper can return to review; this one is {paper.curation_status}."
                )
        Video.objects.filter(paper=paper).update(approved_at=None, approved_by=None)


# --- Scripts ---------------------------------------------------------------------------------------------


def script_edit(script: Script, *, section: str, text: str, user: User) -> int:
    """Replace one section's sentences with a person's text (sentences split as narration splits them).

    Sentences left as they were keep their pages and figures; a changed sentence keeps the pages of the one
    it replaces, so it stays traceable; a new sentence has no pages (it is the person's). Returns how many
    sentences changed. Idempotent: the same text again changes nothing.
    """
    wanted = [s for line in text.splitlines() for s in split_sentences(line)]
    with transaction.atomic():
        rows = list(ScriptSentence.objects.select_for_update().filter(script=script).order_by("index"))
        mine = [row for row in rows if row.section == section]
        if not mine:
            raise CurationError(f"The script has no section {section!r}.")
        old = [row.text for row in mine]
        if old == wanted:
            return 0
        if not wanted and len(mine) == len(rows):
            raise CurationError("The script cannot be empty: keep at least one sentence.")
        replacement: list[ScriptSentence] = []
        changed = 0
        for tag, a0, a1, b0, b1 in SequenceMatcher(a=old, b=wanted, autojunk=False).get_opcodes():
            if tag == "equal":
                replacement.extend(mine[a0:a1])
                continue
            changed += max(a1 - a0, b1 - b0)
            for offset, sentence in enumerate(wanted[b0:b1]):
                source = mine[min(a0 + offset, a1 - 1)] if a1 > a0 else None
                row = source if source is not None and source not in replacement else ScriptSentence(script=script)
                row.text, row.section, row.edited = sentence, section, True
                row.pages = list(source.pages) if source is not None else []
                row.figures = figure_mentions(sentence)
                replacement.append(row)
        start = rows.index(mine[0])
        final = rows[:start] + replacement + rows[start + len(mine) :]
        keep = {row.pk for row in final if row.pk}
        ScriptSentence.objects.filter(script=script).exclude(pk__in=keep).delete()
        # Move every kept row out of the way first: (script, index) is unique.
        ScriptSentence.objects.filter(script=script).update(index=F("index") + 1_000_000)
        for index, row in enumerate(final):
            row.index = index
            row.save()
        Script.objects.filter(pk=script.pk).update(
            edited_by=user, edited_at=timezone.now(), words=sum(len(row.text.split()) for row in final)
        )
    return changed


def script_approve(script: Script, *, user: User | None) -> bool:
    """An editor approves the script for narration. Idempotent: False when it was approved already."""
    return bool(
        Script.objects.filter(pk=script.pk, approved_at__isnull=True).update(
            approved_at=timezone.now(), approved_by=user
        )
    )
