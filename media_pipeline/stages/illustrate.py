"""illustrate: each scene's image prompt -> image candidates (Image rows, files in the configured storage).

Candidates: the project asks for N images per scene. The pipeline makes them with seeds derived from the
paper and the scene, so a re-run asks for the same pictures; `regenerate` adds candidates with fresh seeds
and keeps the old ones. Exactly one candidate per scene is selected (a database constraint); a person's
choice (selected_by_human) is never changed by the pipeline.

Idempotency: a scene's fingerprint covers its prompt, negative prompt, headline, size, steps, guidance,
sampler and the backend's identity, but not the seed. A scene is current when a person chose its image, or
when its selected image was made from the current fingerprint and it has N candidates made from it.

Failures: a scene the backend refuses (a PermanentError) is recorded on the scene (Chunk.image_error) and
the others go on; the stage then fails naming every such scene. A server that is down (TransientError)
stops the stage at once for a later retry. Every finished scene is kept either way.

Storage: bytes are checked with Pillow (decompression-bomb limit on) before anything is stored, provenance
is written into the PNG's text chunks, and a file is saved once per project for identical bytes (sha256).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from media_pipeline.backends.errors import PermanentError
from media_pipeline.backends.images import ImageGenerator, ImageRequest, ImageResult, get_image_generator
from media_pipeline.backends.images.base import LocalRenderer, SlideSpec
from media_pipeline.backends.images.png import NotPNG, verify_png, with_text
from media_pipeline.backends.images.slides import SlideRenderer, slide_png, theme_key
from media_pipeline.backends.llm.extractive import key_phrases
from media_pipeline.files import delete_quietly, generated_name, paper_folder
from media_pipeline.fingerprint import fingerprint
from media_pipeline.models import FIGURE_BACKEND, Chunk, Figure, FigureKind, Image, Stage
from media_pipeline.runs import fence
from media_pipeline.selectors import (
    SceneSource,
    document_current,
    figures_of,
    scene_sources,
    section_at,
    section_starts,
    visuals_of,
)
from media_pipeline.slots import request_slot
from media_pipeline.stages import ProgressFn, StageResult
from projects.models import ImageLayout, Paper

name = Stage.ILLUSTRATE


@dataclass(frozen=True)
class Scene:
    chunk: Chunk
    request: ImageRequest  # seed 0: each candidate sets its own
    fingerprint: str
    generator: ImageGenerator  # the project's backend, or the slide renderer for a figure slide
    figures: tuple[Figure, ...] = ()  # the paper's own figures its narration mentions, first one first
    frame: tuple[int, int] | None = None  # the slide size when the generated picture sits beside the slide's text


def scene_seed(paper: Paper, index: int, candidate: int = 0) -> int:
    """A stable seed per scene and candidate, so a re-run asks for the same pictures."""
    key = f"{paper.pk}:{index}" if candidate == 0 else f"{paper.pk}:{index}:{candidate}"
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def fresh_seed() -> int:
    return secrets.randbelow(0x7FFFFFFF)


def _scenes(paper: Paper, generator: ImageGenerator, only: set[int] | None = None) -> list[Scene]:
    chunks = list(Chunk.objects.filter(paper=paper).select_related("summary").order_by("index"))
    if not chunks:
        raise PermanentError("The paper has no scenes yet: run the chunk stage first.")
    missing = [c.index + 1 for c in chunks if getattr(c, "summary", None) is None]
    if missing:
        raise PermanentError(f"Scenes {_list(missing)} have no summary yet: run the summarize stage first.")
    project = paper.project
    width, height = project.image_size
    sources = scene_sources(paper, [(c.index, c.start) for c in chunks])
    # An image server's picture sits beside the slide's text unless the project wants it to fill the frame.
    beside = not isinstance(generator, LocalRenderer) and project.image_layout == ImageLayout.BESIDE
    slides = _slide_plan(paper, chunks, sources) if generator.name == "slides" or beside else {}
    figures = figures_of(paper) if sources and not slides else {}
    renderer: ImageGenerator = SlideRenderer(font_path=settings.PAPERCAST_FONT) if beside else generator
    out = []
    for chunk in chunks:
        if only is not None and chunk.index not in only:
            continue
        summary = chunk.summary
        slide = slides.get(chunk.index)
        maker, frame, size = generator, None, (width, height)
        if beside and slide is not None:
            if slide.kind == "figure":  # the paper's figure or table: a slide, no picture to generate
                maker, size = renderer, (project.video_width, project.video_height)
            else:
                frame, size = (project.video_width, project.video_height), _panel(width, height)
        request = ImageRequest(
            prompt=summary.image_prompt,
            negative_prompt=summary.negative_prompt,
            width=size[0],
            height=size[1],
            seed=0,
            steps=project.image_steps,
            guidance=project.image_guidance,
            sampler=project.image_sampler,
            headline=summary.summary,
            caption=f"{paper.title} · {chunk.index + 1}/{len(chunks)}",
            slide=slide,
        )
        mentioned = sources[chunk.index].figures if chunk.index in sources else []
        shown = tuple(figures[n] for n in mentioned if n in figures)
        key = fingerprint(maker.identity(), _described(request), *([frame] if frame else []))
        out.append(Scene(chunk, request, key, maker, shown, frame))
    return out


def _panel(width: int, height: int) -> tuple[int, int]:
    """The size an image server is asked for when its picture sits beside the text: a square as large as the
    project's image size allows, at most 1024 (SDXL's own size), in multiples of 8 (what Stable Diffusion
    models need)."""
    side = max(min(width, height, 1024) // 8 * 8, 64)
    return side, side


def _described(request: ImageRequest) -> dict[str, object]:
    """The request as its fingerprint sees it: a slide's figure by its sha256, not its bytes."""
    if request.slide is not None and request.slide.figure:
        request = dataclasses.replace(request, slide=dataclasses.replace(request.slide, figure=b""))
    return dataclasses.asdict(request)


# --- Slides: what each scene shows ---------------------------------------------------------------------------

_TABLE_MENTION = re.compile(r"\bTables?\s+(\d+)")
FIGURE_SHARE = 0.4  # at most this share of the scenes show a figure the narration does not name
NEAR_PAGES = 2  # a narration that reaches no figure's page shows the figures within this many pages of it


def _slide_plan(paper: Paper, chunks: list[Chunk], sources: dict[int, SceneSource]) -> dict[int, SlideSpec]:
    """Each scene's slide: the title slide first; the paper's figure or table for the scenes whose narration
    names it, or, up to a share of the scenes, for a scene whose sentences come from the page it is on; else
    the section's name and the scene's key phrases."""
    document = document_current(paper)
    visuals = _assign_visuals(chunks, sources, visuals_of(paper))
    sections = section_starts(paper)
    theme = theme_key(paper.project_id)
    count = len(chunks)
    plan: dict[int, SlideSpec] = {}
    recent: list[str] = []  # the key phrases of the last few slides
    names = " ".join(str(a) for a in (document.authors if document else []))
    for chunk in chunks:
        counter = f"{chunk.index + 1}/{count}"
        if chunk.index == 0:
            authors = list(document.authors) if document else []
            plan[0] = SlideSpec(
                kind="title",
                title=paper.title,
                authors=_authors_line(authors),
                venue=f"arXiv:{document.arxiv_id}" if document and document.arxiv_id else "",
                theme=theme,
                counter=counter,
            )
            continue
        header = section_at(sections, chunk.start)
        visual = visuals.get(chunk.index)
        if visual is not None:
            with visual.file.open("rb") as handle:
                data = handle.read()
            plan[chunk.index] = SlideSpec(
                kind="figure",
                title=paper.title,
                header=header,
                figure_label=visual.label
                or f"{'Table' if visual.kind == FigureKind.TABLE else 'Figure'} {visual.number}",
                figure_caption=_short_caption(visual.caption),
                figure_sha256=visual.sha256,
                figure=data,
                theme=theme,
                counter=counter,
            )
            continue
        summary = chunk.summary
        phrases = tuple(summary.key_phrases or ()) or tuple(key_phrases(chunk.text))
        if not summary.edited_by_human:
            # The model's phrases: not the paper's title again (the footer says it), nor its authors (the title
            # slide names them; a scene can start with the opening sentence's tail), nor the words of the slides
            # just before.
            said = f"{paper.title} {names}".lower()
            fresh = tuple(p for p in phrases if p.lower() not in recent and p.lower() not in said)
            phrases = fresh or phrases
        recent = (recent + [p.lower() for p in phrases])[-9:]
        before = plan.get(chunk.index - 1)
        if not phrases and before is not None and before.kind != "title" and before.header == header:
            # A short scene with nothing of its own to show (the end of a sentence): the slide stays.
            plan[chunk.index] = dataclasses.replace(before, counter=counter)
            continue
        plan[chunk.index] = SlideSpec(
            kind="points", title=paper.title, header=header, phrases=phrases, theme=theme, counter=counter
        )
    return plan


def _assign_visuals(chunks: list[Chunk], sources: dict[int, SceneSource], visuals: list[Figure]) -> dict[int, Figure]:
    figures = {int(v.number): v for v in visuals if v.kind != FigureKind.TABLE and v.number is not None}
    tables = {int(v.number): v for v in visuals if v.kind == FigureKind.TABLE and v.number is not None}
    assigned: dict[int, Figure] = {}
    for chunk in chunks[1:]:
        named = [figures[n] for n in (sources[chunk.index].figures if chunk.index in sources else []) if n in figures]
        named += [tables[int(n)] for n in _TABLE_MENTION.findall(chunk.text) if int(n) in tables]
        if named:
            assigned[chunk.index] = named[0]
    shown = {v.pk for v in assigned.values()}
    room = int(len(chunks) * FIGURE_SHARE) - len(assigned)
    for visual in visuals:
        if room <= 0:
            break
        if visual.pk in shown:
            continue
        # The first scene (after the title) whose sentences come from the visual's page, not already showing one
        # and not right after a scene that shows one (slides and figures take turns).
        for chunk in chunks[1:]:
            pages = sources[chunk.index].pages if chunk.index in sources else []
            if visual.page in pages and chunk.index not in assigned and chunk.index - 1 not in assigned:
                assigned[chunk.index] = visual
                shown.add(visual.pk)
                room -= 1
                break
    if not shown:
        # A short narration can skip every page with a figure (the overview, then the discussion): the figure
        # nearest to what is said, within NEAR_PAGES, goes on the scene it is nearest to.
        for visual in visuals:
            if room <= 0:
                break
            best: tuple[int, int] | None = None
            for chunk in chunks[1:]:
                pages = sources[chunk.index].pages if chunk.index in sources else []
                if not pages or {chunk.index - 1, chunk.index, chunk.index + 1} & set(assigned):
                    continue
                distance = min(abs(page - visual.page) for page in pages)
                if distance <= NEAR_PAGES and (best is None or distance < best[0]):
                    best = (distance, chunk.index)
            if best is not None:
                assigned[best[1]] = visual
                room -= 1
    return assigned


def _authors_line(authors: list[str], shown: int = 6) -> str:
    names = [str(a) for a in authors if str(a).strip()]
    if len(names) > shown:
        return ", ".join(names[:shown]) + f" and {len(names) - shown} others"
    return ", ".join(names)


def _short_caption(caption: str) -> str:
    """A caption's first sentence without its label ("Figure 3: ..." -> "..."), for the slide."""
    text = re.sub(r"^\s*(?:Fig(?:ure)?|Table|TABLE)\.?\s*[\dIVX]+[.:]?\s*", "", " ".join(caption.split()))
    first = re.split(r"(?<=[.!?])\s+(?=[A-Z]|\([A-Za-z]\)\s)", text, maxsplit=1)[0]  # "… representation. (A) …"
    return first.rstrip(".")


def _stage_fingerprint(scenes: list[Scene], wanted: int) -> str:
    return fingerprint(
        "illustrate", wanted, [s.fingerprint for s in scenes], [[f.sha256 for f in s.figures] for s in scenes]
    )


def _list(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:20])
    return shown + (f" and {len(numbers) - 20} more" if len(numbers) > 20 else "")


def _candidates(scene: Scene) -> list[Image]:
    return list(Image.objects.filter(chunk=scene.chunk, input_fingerprint=scene.fingerprint).order_by("id"))


def _selected(chunk: Chunk) -> Image | None:
    return Image.objects.filter(chunk=chunk, selected=True).first()


def _scene_current(scene: Scene, wanted: int) -> bool:
    selected = _selected(scene.chunk)
    if selected is None:
        return False
    if selected.selected_by_human:
        return True
    if len(_candidates(scene)) < wanted or len(_figure_images(scene)) < len(scene.figures):
        return False
    if scene.figures:
        return selected.input_fingerprint == figure_fingerprint(scene.figures[0])
    return selected.input_fingerprint == scene.fingerprint


def status(paper: Paper) -> tuple[str, bool]:
    scenes = _scenes(paper, get_image_generator())
    wanted = paper.project.image_candidates
    return _stage_fingerprint(scenes, wanted), all(_scene_current(scene, wanted) for scene in scenes)


# --- The paper's own figures as candidates ------------------------------------------------------------------


def figure_fingerprint(figure: Figure) -> str:
    return fingerprint("figure", figure.sha256)


def _figure_images(scene: Scene) -> list[Image]:
    keys = [figure_fingerprint(f) for f in scene.figures]
    return list(Image.objects.filter(chunk=scene.chunk, backend=FIGURE_BACKEND, input_fingerprint__in=keys))


def _attach_figures(scene: Scene) -> Image | None:
    """An Image candidate for each figure the scene mentions (the figure's own file, its source recorded);
    returns the first mentioned figure's candidate."""
    have = {image.input_fingerprint: image for image in _figure_images(scene)}
    first = None
    for figure in scene.figures:
        key = figure_fingerprint(figure)
        image = have.get(key)
        if image is None:
            image = Image.objects.create(
                chunk=scene.chunk,
                file=figure.file.name,
                prompt=figure.caption,
                seed=0,
                backend=FIGURE_BACKEND,
                model="",
                params={
                    "source": "paper",
                    "figure": figure.number,
                    "label": figure.label,
                    "page": figure.page,
                    "shows": figure.label or f"Figure {figure.number}",
                },
                width=figure.width,
                height=figure.height,
                sha256=figure.sha256,
                selected=False,
                input_fingerprint=key,
            )
            have[key] = image
        first = first or image
    return first


def provenance(request: ImageRequest, result: ImageResult, backend: str) -> dict[str, str]:
    """The PNG text chunks that say how an image was made."""
    return {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "seed": str(result.seed),
        "backend": backend,
        "model": result.model,
        "parameters": json.dumps(result.params, sort_keys=True, ensure_ascii=False, default=str),
        "Software": "papercast",
    }


def run(paper: Paper, *, force: bool, progress: ProgressFn) -> StageResult:
    """Make each scene's N candidates (fresh seeds when forced) and select one where no person has."""
    generator = get_image_generator()
    scenes = _scenes(paper, generator)
    wanted = paper.project.image_candidates
    fp = _stage_fingerprint(scenes, wanted)
    calls = kept_human = figures = 0
    failed: dict[int, str] = {}
    for done, scene in enumerate(scenes, start=1):
        selected = _selected(scene.chunk)
        if selected is not None and selected.selected_by_human and not force:
            kept_human += 1
        elif force or not _scene_current(scene, wanted):
            if force:
                seeds = [fresh_seed() for _ in range(wanted)]
            else:
                have = {img.params.get("requested_seed") for img in _candidates(scene)}
                seeds = [scene_seed(paper, scene.chunk.index, k) for k in range(wanted)]
                seeds = [s for s in seeds if s not in have]
            try:
                made = [_generate(paper, scene, seed) for seed in seeds]
            except PermanentError as exc:
                failed[scene.chunk.index] = str(exc)
                Chunk.objects.filter(pk=scene.chunk.pk).update(image_error=str(exc)[:2000])
                progress(done / len(scenes))
                continue
            calls += len(made)
            figure = _attach_figures(scene)
            if figure is not None:
                # The narration talks about this figure: the paper's own picture of it is shown.
                figures += 1
                _select(scene.chunk, figure.pk)
            elif force and made:
                _select(scene.chunk, made[0].pk)
            elif selected is None or selected.input_fingerprint != scene.fingerprint:
                # The selection is missing or was made from older inputs: take the first current candidate.
                _select(scene.chunk, _candidates(scene)[0].pk)
            if scene.chunk.image_error:
                Chunk.objects.filter(pk=scene.chunk.pk).update(image_error="")
        progress(done / len(scenes))
    if failed:
        details = "; ".join(f"scene {i + 1}: {error}" for i, error in list(failed.items())[:5])
        raise PermanentError(
            f"{len(failed)} of {len(scenes)} scenes have no image ({_list([i + 1 for i in failed])}). "
            f"The others are kept. {details}"
        )
    return StageResult(
        fp,
        reused=calls == 0 and figures == 0,
        metrics={"scenes": len(scenes), "calls": calls, "kept_human_choices": kept_human, "paper_figures": figures},
    )


def regenerate(paper: Paper, scene_indexes: list[int], count: int, progress: ProgressFn) -> StageResult:
    """Add `count` candidates with fresh seeds to each given scene (0-based), keeping every earlier one.

    The first new candidate is selected unless a person chose the scene's image; then it stays.
    """
    generator = get_image_generator()
    scenes = _scenes(paper, generator, only=set(scene_indexes))
    known = {s.chunk.index for s in scenes}
    unknown = [i + 1 for i in scene_indexes if i not in known]
    if unknown:
        raise PermanentError(f"The paper has no scene {_list(unknown)}.")
    calls = 0
    for done, scene in enumerate(scenes, start=1):
        try:
            made = [_generate(paper, scene, fresh_seed()) for _ in range(count)]
        except PermanentError as exc:
            Chunk.objects.filter(pk=scene.chunk.pk).update(image_error=str(exc)[:2000])
            raise PermanentError(f"Scene {scene.chunk.index + 1}: {exc}") from None
        calls += len(made)
        _select(scene.chunk, made[0].pk)
        Chunk.objects.filter(pk=scene.chunk.pk).update(image_error="")
        progress(done / len(scenes))
    fp = fingerprint("regenerate", [s.fingerprint for s in scenes], calls)
    return StageResult(fp, reused=False, metrics={"scenes": len(scenes), "calls": calls})


def _select(chunk: Chunk, image_id: int) -> bool:
    """Select the image unless a person has chosen one meanwhile. Returns whether it was selected."""
    with transaction.atomic():
        if Image.objects.select_for_update().filter(chunk=chunk, selected=True, selected_by_human=True).exists():
            return False
        Image.objects.filter(chunk=chunk, selected=True).exclude(pk=image_id).update(selected=False)
        Image.objects.filter(pk=image_id).update(selected=True)
    return True


def _call(generator: ImageGenerator, request: ImageRequest) -> ImageResult:
    """One generation, within the server's concurrency limit (shared by every worker on every machine)."""
    server = f"image:{generator.server}" if generator.server else ""
    with request_slot(
        server,
        limit=settings.PAPERCAST_IMAGE_CONCURRENCY,
        read_timeout=settings.PAPERCAST_IMAGE_READ_TIMEOUT,
        retries=settings.PAPERCAST_IMAGE_RETRIES,
    ):
        return generator.generate(request)


def _store(paper: Paper, chunk: Chunk, png: bytes, digest: str) -> tuple[str, bool]:
    """The storage name for these bytes: an existing file of this project with the same sha256, or a new one.

    Returns (name, created). Files are shared within a project only: access to media is checked per project.
    """
    for name in Image.objects.filter(chunk__paper__project_id=paper.project_id, sha256=digest).values_list(
        "file", flat=True
    ):
        if name and default_storage.exists(name):
            return name, False
    folder = f"{paper_folder(paper.project_id, paper.pk)}/scenes/{chunk.index:04d}"
    return default_storage.save(generated_name(folder, ".png"), ContentFile(png)), True


def _generate(paper: Paper, scene: Scene, seed: int) -> Image:
    generator = scene.generator
    request = dataclasses.replace(scene.request, seed=seed)
    result = _call(generator, request)
    width, height = verify_png(result.png)
    shows = "generated image"
    if scene.frame is not None and request.slide is not None:
        # The picture goes beside the slide's text; the slide is what the scene shows.
        spec = dataclasses.replace(request.slide, picture=result.png)
        slide, _ = slide_png(spec, *scene.frame, font_path=settings.PAPERCAST_FONT)
        result = dataclasses.replace(result, png=slide, params={**result.params, "layout": "beside"})
        width, height = scene.frame
        shows = "title slide with a generated image" if spec.kind == "title" else "slide with a generated image"
    try:
        png = with_text(result.png, provenance(request, result, generator.name))
    except NotPNG as exc:  # verify_png accepted it, so this is a chunk layout Pillow tolerates and we do not
        raise PermanentError(f"The image backend returned a PNG papercast cannot annotate: {exc}") from None
    digest = hashlib.sha256(png).hexdigest()
    name, created = _store(paper, scene.chunk, png, digest)
    image = None
    try:
        with transaction.atomic():
            fence()
            image = Image.objects.create(
                chunk=scene.chunk,
                file=name,
                prompt=request.prompt,
                negative_prompt=request.negative_prompt,
                seed=result.seed,
                backend=generator.name,
                model=result.model,
                params={"shows": shows, **result.params, "requested_seed": seed},
                width=width,
                height=height,
                sha256=digest,
                selected=False,
                input_fingerprint=scene.fingerprint,
            )
    finally:
        if image is None and created:  # the row was not written: the file would be an orphan
            delete_quietly([name])
    return image
