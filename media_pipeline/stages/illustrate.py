"""illustrate: each scene's image prompt -> an image (Image row, file in the configured storage).

Idempotency: each scene's fingerprint covers its prompt, negative prompt, headline text, size, seed and
the backend's identity. An existing candidate with that fingerprint is reused (and selected unless a person
chose another). A person's choice is never changed. Each scene is saved when done, so a failure part-way
keeps the finished scenes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import warnings

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from PIL import Image as PILImage

from media_pipeline.backends.errors import PermanentError
from media_pipeline.backends.images import ImageGenerator, ImageRequest, get_image_generator
from media_pipeline.files import delete_quietly, generated_name, paper_folder
from media_pipeline.fingerprint import fingerprint
from media_pipeline.models import Chunk, Image
from media_pipeline.stages import ProgressFn, StageResult
from projects.models import Paper

# Pillow raises DecompressionBombError above twice this many pixels; we also refuse above it.
MAX_IMAGE_PIXELS = 64_000_000


def scene_seed(paper: Paper, index: int) -> int:
    """A stable seed per scene, so a re-run asks for the same picture."""
    digest = hashlib.sha256(f"{paper.pk}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _requests(paper: Paper, generator: ImageGenerator) -> list[tuple[Chunk, ImageRequest, str]]:
    chunks = list(Chunk.objects.filter(paper=paper).select_related("summary").order_by("index"))
    if not chunks:
        raise PermanentError("The paper has no scenes yet: run the chunk stage first.")
    missing = [c.index + 1 for c in chunks if getattr(c, "summary", None) is None]
    if missing:
        raise PermanentError(f"Scenes {_list(missing)} have no summary yet: run the summarize stage first.")
    project = paper.project
    out = []
    for chunk in chunks:
        summary = chunk.summary
        request = ImageRequest(
            prompt=summary.image_prompt,
            negative_prompt=summary.negative_prompt,
            width=project.video_width,
            height=project.video_height,
            seed=scene_seed(paper, chunk.index),
            model="",
            headline=summary.summary,
            caption=f"{paper.title} · {chunk.index + 1}/{len(chunks)}",
        )
        out.append((chunk, request, fingerprint(generator.identity(), dataclasses.asdict(request))))
    return out


def _list(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:20])
    return shown + (f" and {len(numbers) - 20} more" if len(numbers) > 20 else "")


def _selected(chunk: Chunk) -> Image | None:
    return Image.objects.filter(chunk=chunk, selected=True).first()


def status(paper: Paper) -> tuple[str, bool]:
    items = _requests(paper, get_image_generator())
    fp = fingerprint("illustrate", [f for _, _, f in items])
    current = True
    for chunk, _, scene_fp in items:
        selected = _selected(chunk)
        if selected is None or not (selected.selected_by_human or selected.input_fingerprint == scene_fp):
            current = False
            break
    return fp, current


def verify_png(data: bytes) -> tuple[int, int]:
    """Check that bytes are one sane PNG image; returns its size. Raises PermanentError otherwise."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(data)) as probe:
                if probe.format != "PNG":
                    raise PermanentError(f"The image backend returned {probe.format}, not PNG.")
                width, height = probe.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise PermanentError(f"The image is {width}x{height}, larger than papercast accepts.")
                probe.verify()
    except PermanentError:
        raise
    except (
        OSError,
        SyntaxError,
        ValueError,
        PILImage.DecompressionBombError,
        PILImage.DecompressionBombWarning,
    ) as exc:
        raise PermanentError(f"The image backend returned bytes that are not a valid image: {exc}") from exc
    return width, height


def run(paper: Paper, *, force: bool, progress: ProgressFn) -> StageResult:
    generator = get_image_generator()
    items = _requests(paper, generator)
    fp = fingerprint("illustrate", [f for _, _, f in items])
    calls = reused = kept_human = 0
    for done, (chunk, request, scene_fp) in enumerate(items, start=1):
        selected = _selected(chunk)
        if selected is not None and selected.selected_by_human:
            kept_human += 1
        elif not force and selected is not None and selected.input_fingerprint == scene_fp:
            reused += 1
        else:
            existing = None if force else Image.objects.filter(chunk=chunk, input_fingerprint=scene_fp).first()
            if existing is not None:
                _select(chunk, existing.pk)
                reused += 1
            else:
                _generate(paper, chunk, request, scene_fp, generator)
                calls += 1
        progress(done / len(items))
    return StageResult(
        fp, reused=calls == 0, metrics={"scenes": len(items), "calls": calls, "kept_human_choices": kept_human}
    )


def _select(chunk: Chunk, image_id: int) -> bool:
    """Select the image unless a person has chosen one meanwhile. Returns whether it was selected."""
    with transaction.atomic():
        if Image.objects.select_for_update().filter(chunk=chunk, selected=True, selected_by_human=True).exists():
            return False
        Image.objects.filter(chunk=chunk, selected=True).exclude(pk=image_id).update(selected=False)
        Image.objects.filter(pk=image_id).update(selected=True)
    return True


def _generate(paper: Paper, chunk: Chunk, request: ImageRequest, scene_fp: str, generator: ImageGenerator) -> None:
    result = generator.generate(request)
    width, height = verify_png(result.png)
    folder = f"{paper_folder(paper.project_id, paper.pk)}/scenes/{chunk.index:04d}"
    name = default_storage.save(generated_name(folder, ".png"), ContentFile(result.png))
    image = None
    try:
        image = Image.objects.create(
            chunk=chunk,
            file=name,
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            seed=result.seed,
            backend=generator.name,
            model=result.model,
            params={**result.params, "requested_seed": request.seed},
            width=width,
            height=height,
            sha256=hashlib.sha256(result.png).hexdigest(),
            selected=False,
            input_fingerprint=scene_fp,
        )
    finally:
        if image is None:  # the row was not written: the file would be an orphan
            delete_quietly([name])
    _select(chunk, image.pk)
