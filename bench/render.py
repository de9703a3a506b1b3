"""Render speed: the seed blog's ffmpeg recipe against papercast's still mode, and motion mode's speed.

Usage: python bench/render.py [--minutes 10] [--scenes 60] [--skip-seed] [--skip-motion]

Builds one paper in a fresh temporary data dir: N minutes of narration-like audio, N scenes of equal length
with 1920x1080 title-card images, and a transcript of one word every 0.4 s. Then renders it:

1. the seed blog's recipe: an ffconcat list with per-image durations (names kept safe here), libx264 at its
   defaults (CFR 25 fps, preset medium), then a second ffmpeg pass that adds the audio;
2. papercast's still mode (the render stage, captions, chapters and thumbnail included);
3. papercast's motion mode (Ken Burns moves and crossfades at 30 fps).

Prints wall times, the ratio seed / still (target: at least 20) and motion mode as a multiple of real time.

With --paper DATA_DIR (a data dir kept by `bench/e2e.py --keep`), the same comparison runs on that dir's
newest paper as the pipeline made it: its narration, its scenes and their selected pictures (slides and
figures at the project's size), the render stage exactly as the pipeline runs it.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchsetup import ROOT, fresh_django


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--scenes", type=int, default=60)
    parser.add_argument("--skip-seed", action="store_true", help="do not run the (slow) seed recipe")
    parser.add_argument("--skip-motion", action="store_true")
    parser.add_argument("--paper", type=Path, metavar="DATA_DIR", help="render the newest paper of this data dir")
    args = parser.parse_args()
    if args.paper:
        return real_paper(args.paper, skip_seed=args.skip_seed)

    data_dir = fresh_django("papercast-bench-render-")
    from django.contrib.auth.models import User
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from media_pipeline.backends.images import ImageRequest
    from media_pipeline.backends.images.titlecard import TitleCardRenderer
    from media_pipeline.models import Chunk, Image, Segment, Summary, Transcription, Word
    from media_pipeline.stages import no_progress, render
    from projects import services

    duration = args.minutes * 60
    work = data_dir / "bench"
    work.mkdir()
    audio = work / "narration.wav"
    # Speech-like: a tone whose pitch and loudness move, with some noise (AAC has to work on it).
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         f"aevalsrc='0.3*sin(2*PI*(180+40*sin(2*PI*0.7*t))*t)*(0.6+0.4*sin(2*PI*3*t))+0.02*(random(0)-0.5)'"
         f":s=48000:d={duration}", "-ac", "1", str(audio)],
        check=True,
    )  # fmt: skip
    owner = User.objects.create_user("bench")
    project = services.project_create(name="Bench", owner=owner, video_width=1920, video_height=1080)
    with audio.open("rb") as handle:
        paper = services.paper_create_from_audio(project=project, title="Bench", file=handle, filename="n.wav")
    transcription = Transcription.objects.create(
        paper=paper, engine="bench", model="-", duration=duration, audio_fingerprint="-", input_fingerprint="-"
    )
    segment = Segment.objects.create(transcription=transcription, index=0, start=0, end=duration, text="")
    words = [
        Word(transcription=transcription, segment=segment, index=i, start=i * 0.4, end=i * 0.4 + 0.35,
             text="word." if i % 12 == 11 else "word")
        for i in range(int(duration / 0.4))
    ]  # fmt: skip
    Word.objects.bulk_create(words)
    renderer = TitleCardRenderer()
    length = duration / args.scenes
    pngs = []
    for i in range(args.scenes):
        chunk = Chunk.objects.create(
            paper=paper, transcription=transcription, index=i, start=i * length, end=(i + 1) * length,
            text="-", input_fingerprint="-",
        )  # fmt: skip
        Summary.objects.create(
            chunk=chunk, summary=f"Scene {i + 1}", image_prompt=f"scene {i}", backend="-", prompt_version="-",
            input_fingerprint="-",
        )  # fmt: skip
        png = renderer.generate(ImageRequest(f"scene {i}", "", 1920, 1080, seed=i, headline=f"Scene {i + 1}")).png
        path = work / f"scene{i:03d}.png"
        path.write_bytes(png)
        pngs.append(path)
        name = default_storage.save(f"projects/{project.pk}/papers/{paper.pk}/s{i}.png", ContentFile(png))
        Image.objects.create(
            chunk=chunk, file=name, prompt="-", seed=i, backend="titlecard", width=1920, height=1080,
            sha256=f"{i:064d}", selected=True, input_fingerprint="-",
        )  # fmt: skip

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; ", end="")
    print(f"{args.minutes:g} min of audio, {args.scenes} scenes, 1920x1080")
    seed_seconds = None
    if not args.skip_seed:
        seed_seconds = seed_recipe(pngs, [length] * len(pngs), audio, work)
        print(f"seed recipe (concat list, libx264 defaults, second pass for audio): {seed_seconds:8.1f} s")

    started = time.monotonic()
    render.run(paper, force=True, progress=no_progress)
    still_seconds = time.monotonic() - started
    print(f"papercast still mode (video, captions, chapters, thumbnail):         {still_seconds:8.1f} s", end="")
    print(f"  ({duration / still_seconds:.0f}x real time)")
    if seed_seconds is not None:
        print(f"ratio seed / still: {seed_seconds / still_seconds:.1f}x (target: at least 20x)")
    if not args.skip_motion:
        project.render_mode = "motion"
        project.save()
        paper.refresh_from_db()
        started = time.monotonic()
        render.run(paper, force=True, progress=no_progress)
        motion_seconds = time.monotonic() - started
        print(f"papercast motion mode (30 fps, Ken Burns, crossfades):              {motion_seconds:8.1f} s", end="")
        print(f"  ({duration / motion_seconds:.2f}x real time)")
    print(f"data dir: {data_dir}")
    return 0


def seed_recipe(pictures: list[Path], durations: list[float], audio: Path, work: Path) -> float:
    """The seed blog's two passes (an ffconcat list, libx264 at its defaults, a second pass for the audio);
    returns their wall seconds. The pictures are linked into a folder of the list's own under plain names, so
    the concat demuxer keeps safe=1 (the seed's `-safe 0` changes nothing of the encoding's speed)."""
    frames = work / "seed-frames"
    frames.mkdir(exist_ok=True)
    listing = io.StringIO()
    for n, (path, seconds) in enumerate(zip(pictures, durations, strict=True)):
        (frames / f"{n:05d}{path.suffix}").symlink_to(path.resolve())
        listing.write(f"file '{n:05d}{path.suffix}'\nduration {seconds:.3f}\n")
    listing.write(f"file '{len(pictures) - 1:05d}{pictures[-1].suffix}'\n")
    (frames / "seed.ffconcat").write_text(listing.getvalue())
    started = time.monotonic()
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "concat", "-i", str(frames / "seed.ffconcat"),
         "-c:v", "libx264", "-pix_fmt", "yuv420p", str(work / "seed-video.mp4")],
        check=True,
    )  # fmt: skip
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(work / "seed-video.mp4"), "-i", str(audio), "-c:v", "copy",
         "-c:a", "aac", "-shortest", str(work / "seed.mp4")],
        check=True,
    )  # fmt: skip
    return time.monotonic() - started


def real_paper(data_dir: Path, *, skip_seed: bool) -> int:
    os.environ["PAPERCAST_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "papercast.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from media_pipeline.models import Chunk, Image
    from media_pipeline.selectors import narration_file
    from media_pipeline.stages import no_progress, render
    from projects.models import Paper

    paper = Paper.objects.select_related("project").order_by("-id").first()
    if paper is None or narration_file(paper) is None:
        print(f"{data_dir} holds no narrated paper")
        return 1
    chunks = list(Chunk.objects.filter(paper=paper).order_by("index"))
    images = {i.chunk_id: i for i in Image.objects.filter(chunk__paper=paper, selected=True)}
    audio = Path(narration_file(paper).path)  # type: ignore[union-attr]
    duration = float(subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(audio)],
        check=True, capture_output=True, text=True,
    ).stdout)  # fmt: skip
    starts = [0.0] + [c.start for c in chunks[1:]]
    durations = [b - a for a, b in zip(starts, [*starts[1:], duration], strict=True)]
    project = paper.project
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; paper {paper.title!r}: "
        f"{duration / 60:.1f} min of narration, {len(chunks)} scenes, {project.video_width}x{project.video_height}"
    )
    work = Path(tempfile.mkdtemp(prefix="papercast-bench-seed-"))
    try:
        seed = None
        if not skip_seed:
            seed = seed_recipe([Path(images[c.pk].file.path) for c in chunks], durations, audio, work)
            print(f"seed recipe (concat list, libx264 defaults, second pass for audio): {seed:8.1f} s")
        started = time.monotonic()
        render.run(paper, force=True, progress=no_progress)
        still = time.monotonic() - started
        print(f"the render stage (video, captions, chapters, thumbnail, checks):        {still:8.1f} s", end="")
        print(f"  ({duration / still:.0f}x real time)")
        if seed is not None:
            print(f"ratio seed / render stage: {seed / still:.1f}x (target: at least 20x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
