"""render: scene images + narration -> a YouTube-ready MP4, SRT and WebVTT captions, chapters and a thumbnail,
stored through the configured storage and recorded in one Video row.

Timing: scene i is on screen from its start to the next scene's start (the first from 0, the last to the
end of the audio); boundaries sit on the frame grid by rounding, so nothing drifts over an hour.

Modes:
- still (default): each scene image is encoded once. The video has variable frame rate: one frame per
  scene (and one more wherever burned-in captions change), each an IDR frame, so a player shows the
  right picture at any time and seeks exactly. Timestamps sit on a 1/25 s grid.
- motion: a slow Ken Burns zoom or pan per scene and half-second crossfades, at 30 fps. Each scene is
  encoded as its own segment (closed GOP, no B-frames) and the segments are joined without re-encoding.

Encoding follows YouTube's upload recommendations: H.264 High, yuv420p (BT.709), closed GOP, AAC-LC 48 kHz
stereo, moov at the front (+faststart), no edit list. Images are fitted to the video's size with Pillow
first (cover, or contain over a blurred copy), never stretched.

Safety: ffmpeg reads lists written in a private temp dir naming copies of the images under generated
names, so the concat demuxer keeps its default safe=1; the audio (and music) is probed against a format
allowlist and decoded with the probed format forced; ffmpeg runs with a timeout that kills its process
group, reporting progress from `-progress`. The output is checked with ffprobe before any row points at
it; a failed render leaves no file.

Idempotency: the fingerprint covers the audio, each scene's span and image bytes, the size, mode, fit,
captions, music, thumbnail choice and encoder settings. A Video with that fingerprint is reused.
"""

from __future__ import annotations

import json
import os
import shutil
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from PIL import Image as PILImage
from PIL import ImageOps

from media_pipeline.backends import ffmpeg
from media_pipeline.backends.errors import PermanentError
from media_pipeline.backends.images.slides import render_thumbnail, theme_key
from media_pipeline.files import delete_quietly, file_sha256, local_path, paper_folder, private_tempdir, save_file
from media_pipeline.fingerprint import fingerprint
from media_pipeline.models import FIGURE_BACKEND, Chunk, Image, Stage, Transcription, Video
from media_pipeline.runs import fence
from media_pipeline.selectors import (
    figures_of,
    narration_file,
    scene_sources,
    section_at,
    section_starts,
    transcription_required,
)
from media_pipeline.stages import ProgressFn, StageResult
from media_pipeline.stages.captions import Chapter, Cue, build_chapters, build_cues, to_srt, to_vtt
from media_pipeline.stages.compose import (
    MOTION_FPS,
    STILL_FPS,
    ass_document,
    cue_frames,
    fade_frames,
    filter_path,
    fit_image,
    motion_filter,
    scene_frames,
    still_concat_list,
    still_timeline,
)
from projects.models import Paper, Project

VERSION = "render-3"  # 3: thumbnails are the short title and a figure, never text over a slide
name = Stage.RENDER
ENCODER = {"preset": "veryfast", "crf": "20", "audio_bitrate": "192k", "audio_rate": "48000", "aac": "fast-lr-band"}
# The duration of the file and each stream may differ from the narration's by this much (AAC priming
# shifts everything by 21 ms when there is no edit list).
DURATION_TOLERANCE = 0.1
COLOUR = ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"]


def _inputs(paper: Paper) -> tuple[Transcription, list[Chunk], list[Image]]:
    chunks = list(Chunk.objects.filter(paper=paper).select_related("summary").order_by("index"))
    if not chunks:
        raise PermanentError("The paper has no scenes yet: run the chunk stage first.")
    selected = {img.chunk_id: img for img in Image.objects.filter(chunk__paper=paper, selected=True)}
    missing = [c for c in chunks if c.pk not in selected]
    if missing:
        shown = ", ".join(str(c.index + 1) for c in missing[:20]) + (" …" if len(missing) > 20 else "")
        errors = "; ".join(f"scene {c.index + 1}: {c.image_error}" for c in missing[:5] if c.image_error)
        raise PermanentError(
            f"Scenes {shown} have no selected image: illustrate them or pick a candidate first."
            + (f" The latest attempts failed: {errors}" if errors else "")
        )
    if narration_file(paper) is None:
        raise PermanentError("The paper has no narration audio.")
    transcription = transcription_required(paper)
    return transcription, chunks, [selected[c.pk] for c in chunks]


def _settings(project: Project) -> dict[str, object]:
    return {
        "size": [project.video_width, project.video_height],
        "mode": project.render_mode,
        "fit": project.image_fit,
        "burn_captions": project.burn_captions,
        "music": project.music.name if project.music else "",
        "music_volume_db": project.music_volume_db if project.music else None,
    }


def _fingerprint(paper: Paper, transcription: Transcription, chunks: list[Chunk], images: list[Image]) -> str:
    words = list(transcription.words.order_by("index").values_list("start", "end", "text"))
    return fingerprint(
        VERSION,
        getattr(narration_file(paper), "name", ""),
        transcription.pk,
        [(c.start, img.sha256) for c, img in zip(chunks, images, strict=True)],
        [getattr(c, "summary", None) and c.summary.summary for c in chunks],
        _settings(paper.project),
        paper.title,
        section_starts(paper),
        paper.thumbnail_scene,
        fingerprint(words),
        ENCODER,
    )


def status(paper: Paper) -> tuple[str, bool]:
    fp = _fingerprint(paper, *_inputs(paper))
    return fp, Video.objects.filter(paper=paper, settings_fingerprint=fp).exists()


def run(paper: Paper, *, force: bool, progress: ProgressFn) -> StageResult:
    transcription, chunks, images = _inputs(paper)
    fp = _fingerprint(paper, transcription, chunks, images)
    if not force and Video.objects.filter(paper=paper, settings_fingerprint=fp).exists():
        return StageResult(fp, reused=True)
    saved: list[str] = []  # stored names so far: removed again unless the Video row points at them
    video = None
    try:
        with private_tempdir() as tmp:
            job = _job(paper, transcription, chunks, tmp)
            originals = _copy_originals(images, tmp)
            out = _encode(job, images, originals, paper.project, progress)
            probe = validate_video(out, expected_duration=job.duration, width=job.width, height=job.height)
            chapters = _write_companions(paper, job, chunks, originals, probe.duration)
            file_size, file_digest = out.stat().st_size, file_sha256(out)
            folder = paper_folder(paper.project_id, paper.pk) + "/video"
            for local, suffix in (
                ("video.mp4", ".mp4"),
                ("captions.srt", ".srt"),
                ("captions.vtt", ".vtt"),
                ("thumbnail.jpg", ".jpg"),
            ):
                saved.append(save_file(folder, tmp / local, suffix))
        progress(0.98)
        with transaction.atomic():
            fence()  # only the attempt that holds the run keeps its video; the files go otherwise (finally)
            video = Video.objects.create(
                paper=paper,
                file=saved[0],
                srt=saved[1],
                vtt=saved[2],
                thumbnail=saved[3],
                chapters=[{"start": c.start, "timestamp": c.timestamp, "title": c.title} for c in chapters],
                duration=probe.duration,
                width=probe.width,
                height=probe.height,
                settings_fingerprint=fp,
                file_size=file_size,
                file_sha256=file_digest,
            )
    finally:
        if video is None:
            delete_quietly(saved)
    metrics = {"duration": round(probe.duration, 3), "scenes": len(chunks), "cues": len(job.captions)}
    return StageResult(fp, reused=False, metrics={**metrics, "mode": paper.project.render_mode})


def _job(paper: Paper, transcription: Transcription, chunks: list[Chunk], tmp: Path) -> _Job:
    """What the encoders need: the narration (probed), the music, the scene starts and the caption cues."""
    project = paper.project
    audio_path = local_path(narration_file(paper), tmp, "narration")
    audio = ffmpeg.probe_audio(audio_path)
    cues = build_cues(list(transcription.words.order_by("index").values_list("start", "end", "text")))
    return _Job(
        tmp=tmp,
        names=[f"scene{i:05d}.png" for i in range(len(chunks))],
        starts=[c.start for c in chunks],
        duration=audio.duration or transcription.duration,
        width=project.video_width,
        height=project.video_height,
        audio=audio_path,
        audio_format=audio.force_format,
        audio_rate=audio.sample_rate,
        music=_music(project, tmp),
        music_volume_db=project.music_volume_db,
        cues=cues if project.burn_captions else [],
        captions=cues,
    )


def _copy_originals(images: list[Image], tmp: Path) -> list[Path]:
    # Generated names only: nothing from a user or a storage key reaches a list or a filter.
    originals = [tmp / f"original{i:05d}.img" for i in range(len(images))]
    for image, original in zip(images, originals, strict=True):
        with image.file.open("rb") as source, original.open("wb") as sink:
            shutil.copyfileobj(source, sink)
    return originals


def _encode(job: _Job, images: list[Image], originals: list[Path], project: Project, progress: ProgressFn) -> Path:
    """The pictures fitted and encoded, the sound encoded beside them, and both muxed into video.mp4."""
    # The audio is encoded while the pictures are prepared and encoded (two processes, two cores).
    with ThreadPoolExecutor(max_workers=max(os.cpu_count() or 1, 2)) as pool:
        sound = pool.submit(_encode_audio, job, job.tmp / "audio.aac")
        # A figure from the paper is shown whole (over a blurred copy), never cropped.
        fits = ["blur" if image.backend == FIGURE_BACKEND else project.image_fit for image in images]
        list(pool.map(lambda i: _prepare(originals[i], job.tmp / job.names[i], job, fits[i]), range(len(images))))
        progress(0.1)
        report = _scaled(progress, 0.1, 0.9)
        pictures = job.tmp / "pictures.mp4"
        if project.render_mode == "motion":
            _render_motion(job, pictures, report)
        else:
            _render_still(job, pictures, report)
        sound.result()
    out = job.tmp / "video.mp4"
    _mux(pictures, job.tmp / "audio.aac", out, job.duration)
    return out


def _write_companions(
    paper: Paper, job: _Job, chunks: list[Chunk], originals: list[Path], duration: float
) -> list[Chapter]:
    """The captions (SRT, WebVTT) and thumbnail beside the video in the temp dir; returns the chapters."""
    (job.tmp / "captions.srt").write_text(to_srt(job.captions), encoding="utf-8")
    (job.tmp / "captions.vtt").write_text(to_vtt(job.captions), encoding="utf-8")
    if paper.thumbnail_scene:  # a person's choice: that scene's picture as it is
        chosen = min(max(paper.thumbnail_scene - 1, 0), len(originals) - 1)
        with PILImage.open(originals[chosen]) as source:
            picture = ImageOps.fit(source.convert("RGB"), THUMBNAIL_SIZE, method=PILImage.Resampling.LANCZOS)
    else:
        picture = render_thumbnail(
            paper.title, theme_key(paper.project_id), _telling_figure(paper), font_path=settings.PAPERCAST_FONT
        )
    _save_thumbnail(picture, job.tmp / "thumbnail.jpg")
    return build_chapters(chapter_marks(paper, chunks), duration)


THUMBNAIL_SIZE = (1280, 720)
THUMBNAIL_MAX_BYTES = 2 * 1024 * 1024  # YouTube's limit for a custom thumbnail


def _telling_figure(paper: Paper) -> bytes:
    """The paper's most telling figure for the thumbnail: the first one the narration names, else Figure 1;
    b"" for papers without figures."""
    figures = figures_of(paper)
    if not figures:
        return b""
    named = [n for source in scene_sources(paper).values() for n in source.figures if n in figures]
    figure = figures[named[0]] if named else figures[min(figures)]
    try:
        with figure.file.open("rb") as handle:
            return handle.read()
    except OSError:
        return b""


def _save_thumbnail(picture: PILImage.Image, out: Path) -> None:
    """A JPEG within YouTube's 2 MB limit (a lower quality when a busy figure needs it)."""
    for quality in (90, 80, 70, 60):
        picture.save(out, format="JPEG", quality=quality, optimize=True)
        if out.stat().st_size <= THUMBNAIL_MAX_BYTES:
            return


def chapter_marks(paper: Paper, chunks: list[Chunk]) -> list[tuple[float, str]]:
    """Where chapters may begin, with their titles: at each of the paper's sections (a scene begins there),
    titled with the section's name; for texts and narration audio, at each scene, titled by its summary."""
    sections = section_starts(paper)
    if not sections:
        return [(c.start, c.summary.summary if hasattr(c, "summary") else c.text) for c in chunks]
    marks: list[tuple[float, str]] = []
    for chunk in chunks:
        # The section being spoken when the scene begins (a scene never spans a section's start).
        title = section_at(sections, chunk.start) or sections[0][1]
        if not marks or marks[-1][1] != title:
            marks.append((chunk.start, title))
    return marks


def _scaled(progress: ProgressFn, low: float, high: float) -> ProgressFn:
    return lambda fraction: progress(low + (high - low) * min(max(fraction, 0.0), 1.0))


@dataclass
class _Job:
    """What both modes need: the fitted images (by generated name), timing, audio and captions."""

    tmp: Path
    names: list[str]
    starts: list[float]
    duration: float
    width: int
    height: int
    audio: Path
    audio_format: str
    audio_rate: int | None = None  # the narration's sample rate, as probed
    music: tuple[Path, str] | None = None
    music_volume_db: float = -20.0
    cues: list[Cue] = field(default_factory=list)  # burned into the picture (none unless the project asks)
    captions: list[Cue] = field(default_factory=list)  # every cue, for the SRT and WebVTT files

    def captions_filter(self, fps: int, total: int) -> str:
        if not self.cues:
            return ""
        (self.tmp / "captions.ass").write_text(
            ass_document(self.cues, width=self.width, height=self.height, fps=fps, total=total), encoding="utf-8"
        )
        return f"subtitles=filename={filter_path(self.tmp / 'captions.ass')}"

    def audio_inputs(self, first_index: int) -> tuple[list[str], list[str]]:
        """Input arguments and -map/-filter arguments for the narration (and ducked music)."""
        args = ["-protocol_whitelist", "file", "-format_whitelist", ffmpeg.AUDIO_FORMAT_WHITELIST,
                "-f", self.audio_format, "-i", "file:" + str(self.audio)]  # fmt: skip
        if self.music is None:
            return args, ["-map", f"{first_index}:a:0"]
        path, fmt = self.music
        args += ["-protocol_whitelist", "file", "-format_whitelist", ffmpeg.AUDIO_FORMAT_WHITELIST,
                 "-stream_loop", "-1", "-f", fmt, "-i", "file:" + str(path)]  # fmt: skip
        voice, music = first_index, first_index + 1
        graph = (
            f"[{voice}:a:0]aformat=sample_rates=48000:channel_layouts=stereo,asplit=2[voice][key];"
            f"[{music}:a:0]aformat=sample_rates=48000:channel_layouts=stereo,volume={self.music_volume_db}dB[bed];"
            "[bed][key]sidechaincompress=threshold=0.02:ratio=8:attack=30:release=500:makeup=1[ducked];"
            "[voice][ducked]amix=inputs=2:duration=first:dropout_transition=0:normalize=0[mix]"
        )
        return args, ["-filter_complex", graph, "-map", "[mix]"]


def _prepare(original: Path, target: Path, job: _Job, fit: str) -> None:
    """The scene image at the video's exact size: the original file when it already is an RGB PNG of it."""
    with PILImage.open(original) as probe:
        ready = probe.format == "PNG" and probe.mode == "RGB" and probe.size == (job.width, job.height)
    if ready:
        original.rename(target)
        original.symlink_to(target.name)  # the thumbnail reads the original
        return
    fit_image(original, job.width, job.height, fit).save(target, format="PNG", compress_level=1)


AAC_FRAME = 1024  # samples per AAC-LC frame
AUDIO_PIECE_SECONDS = 60.0  # shorter narration is encoded in one piece: splitting would not pay


def _encode_audio(job: _Job, out: Path) -> None:
    """Narration (and ducked music) -> AAC-LC 48 kHz stereo, as an ADTS stream.

    The sound is mixed once into 48 kHz PCM, then encoded in pieces, one per core, joined frame by frame:
    the AAC encoder runs on one core only, and the sound is most of the render's time. Each piece after the
    first starts PRE_ROLL frames early, so the frames kept from it were encoded with their past, and the
    decoder's overlap at each seam adds two encodings of the same samples (36 dB below the signal at
    worst, measured mid-word; below 16-bit resolution in a pause).

    The 'fast' coder is twice as fast as the default and indistinguishable on speech at this bitrate. The
    narration is one voice in both channels, so the mid/side and intensity stereo searches find nothing to
    gain and cost most of the time (5.8 s for 5 minutes with them, 2.3 s without); perceptual noise
    substitution, off too, only blurs consonants."""
    audio_args, audio_map = job.audio_inputs(0)
    mix = job.tmp / "sound.wav"
    ffmpeg.run_ffmpeg(
        [*audio_args, *audio_map, "-vn", "-c:a", "pcm_s16le", "-ar", ENCODER["audio_rate"], "-ac", "2",
         "-t", f"{job.duration:.6f}", "-f", "wav", "-y", "file:" + str(mix)],
        what="mix the sound",
    )  # fmt: skip
    with wave.open(str(mix), "rb") as sound:
        total = sound.getnframes()
    count = min(os.cpu_count() or 1, 4, max(1, int(job.duration // AUDIO_PIECE_SECONDS)))
    bounds = [0, *(round(total * k / count / AAC_FRAME) * AAC_FRAME for k in range(1, count)), total]
    pieces = [job.tmp / f"sound{k}.aac" for k in range(count)]
    # A voice recorded at 22.05 kHz (piper's) holds nothing above 11 kHz: the encoder need not look there.
    nyquist = (job.audio_rate or 0) // 2
    band = ["-cutoff", str(nyquist)] if job.music is None and 4000 <= nyquist < 18000 else []

    def encode(k: int) -> list[bytes]:
        first = max(bounds[k] - PRE_ROLL * AAC_FRAME, 0) if k else 0
        ffmpeg.run_ffmpeg(
            ["-protocol_whitelist", "file", "-f", "wav", "-i", "file:" + str(mix),
             "-af", f"atrim=start_sample={first}:end_sample={bounds[k + 1]},asetpts=N/SR/TB",
             "-c:a", "aac", "-aac_coder", "fast", "-aac_ms", "0", "-aac_is", "0", "-aac_pns", "0", *band,
             "-profile:a", "aac_low", "-b:a", ENCODER["audio_bitrate"], "-f", "adts", "-y", "file:" + str(pieces[k])],
            what="encode the sound",
        )  # fmt: skip
        frames = ffmpeg.adts_frames(pieces[k].read_bytes())
        skip = (bounds[k] - first) // AAC_FRAME if k else 0
        # A piece's last frame only flushes the encoder: the next piece's frames say those samples again.
        return frames[skip : len(frames) - 1] if k + 1 < count else frames[skip:]

    with ThreadPoolExecutor(max_workers=count) as pool:
        joined = list(pool.map(encode, range(count)))
    out.write_bytes(b"".join(frame for frames in joined for frame in frames))
    mix.unlink()


PRE_ROLL = 4  # frames a piece starts early (85 ms at 48 kHz)


def _mux(pictures: Path, sound: Path, out: Path, duration: float) -> None:
    """Pictures and sound into the final MP4, without re-encoding: moov first, no edit list."""
    # The sound starts with the encoder's priming frame, which an MP4 without an edit list plays: the
    # pictures start that much later too, so sound, pictures and captions stay together.
    priming = AAC_FRAME / int(ENCODER["audio_rate"])
    ffmpeg.run_ffmpeg(
        ["-protocol_whitelist", "file", "-itsoffset", f"{priming:.6f}", "-f", "mp4", "-i", "file:" + str(pictures),
         "-protocol_whitelist", "file", "-f", "aac", "-i", "file:" + str(sound),
         "-map", "0:v:0", "-map", "1:a:0", "-c", "copy", "-t", f"{duration:.6f}",
         "-movflags", "+faststart", "-use_editlist", "0", "-f", "mp4", "-y", "file:" + str(out)],
        what="put the pictures and the sound together",
    )  # fmt: skip


def _x264(keyint: int) -> list[str]:
    return [
        "-c:v", "libx264", "-preset", ENCODER["preset"], "-profile:v", "high", "-crf", ENCODER["crf"],
        "-pix_fmt", "yuv420p", "-g", str(keyint), "-bf", "0", "-x264-params", "open-gop=0", *COLOUR,
    ]  # fmt: skip


def _render_still(job: _Job, out: Path, progress: ProgressFn) -> None:
    frames = scene_frames(job.starts, job.duration, STILL_FPS)
    total = sum(frames)
    cuts = [edge for a, b, _ in cue_frames(job.cues, STILL_FPS, total) for edge in (a, b)]
    entries = still_timeline(frames, cuts)
    (job.tmp / "scenes.ffconcat").write_text(still_concat_list(job.names, entries))
    video_filter = "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p"
    captions = job.captions_filter(STILL_FPS, total)
    if captions:
        video_filter = f"{captions},{video_filter}"
    ffmpeg.run_ffmpeg(
        ["-protocol_whitelist", "file", "-f", "concat", "-i", "file:" + str(job.tmp / "scenes.ffconcat"),
         "-map", "0:v:0", "-vf", video_filter, "-fps_mode", "passthrough", *_x264(1), "-an",
         "-f", "mp4", "-y", "file:" + str(out)],
        what="render the video",
        expected_seconds=job.duration,
        on_progress=progress,
    )  # fmt: skip


def _render_motion(job: _Job, out: Path, progress: ProgressFn) -> None:
    frames = scene_frames(job.starts, job.duration, MOTION_FPS)
    total = sum(frames)
    captions = job.captions_filter(MOTION_FPS, total)
    segments = []
    done = 0
    for index, count in enumerate(frames):
        segment = job.tmp / f"segment{index:05d}.mp4"
        inputs = ["-framerate", str(MOTION_FPS), "-i", "file:" + str(job.tmp / job.names[index])]
        if fade_frames(frames, index):
            inputs += ["-framerate", str(MOTION_FPS), "-i", "file:" + str(job.tmp / job.names[index - 1])]
        graph = motion_filter(frames, index, width=job.width, height=job.height, captions=captions)
        ffmpeg.run_ffmpeg(
            [
                *inputs,
                "-filter_complex",
                graph,
                "-map",
                "[v]",
                "-frames:v",
                str(count),
                "-r",
                str(MOTION_FPS),
                *_x264(MOTION_FPS * 2),
                "-an",
                "-movflags",
                "+faststart",
                "-f",
                "mp4",
                "-y",
                "file:" + str(segment),
            ],
            what=f"render scene {index + 1}",
        )
        segments.append(segment.name)
        done += count
        progress(0.95 * done / total)
    listing = "ffconcat version 1.0\n" + "".join(f"file {name}\n" for name in segments)
    (job.tmp / "segments.ffconcat").write_text(listing)
    ffmpeg.run_ffmpeg(
        ["-protocol_whitelist", "file", "-f", "concat", "-i", "file:" + str(job.tmp / "segments.ffconcat"),
         "-map", "0:v:0", "-c:v", "copy", "-an", "-f", "mp4", "-y", "file:" + str(out)],
        what="join the scenes",
        on_progress=lambda f: progress(0.95 + 0.05 * f),
    )  # fmt: skip


def _music(project: Project, tmp: Path) -> tuple[Path, str] | None:
    if not project.music:
        return None
    path = local_path(project.music, tmp, "music")
    probe = ffmpeg.probe_audio(path)  # the format allowlist applies to music as to narration
    return path, probe.force_format


def top_level_boxes(path: Path) -> list[str]:
    """The MP4's top-level box types in file order (to check that moov precedes mdat)."""
    boxes = []
    with path.open("rb") as handle:
        while True:
            header = handle.read(8)
            if len(header) < 8:
                break
            size, kind = int.from_bytes(header[:4], "big"), header[4:8].decode("latin-1")
            if size == 1:
                size = int.from_bytes(handle.read(8), "big")
                handle.seek(size - 16, 1)
            elif size == 0:
                boxes.append(kind)
                break
            else:
                handle.seek(size - 8, 1)
            boxes.append(kind)
    return boxes


def validate_video(path: Path, *, expected_duration: float, width: int, height: int) -> ffmpeg.VideoProbe:
    probe = ffmpeg.probe_video(path)
    problems = []
    if probe.video_codec != "h264" or probe.pix_fmt != "yuv420p":
        problems.append(f"video is {probe.video_codec}/{probe.pix_fmt}, not h264/yuv420p")
    if probe.audio_codec != "aac":
        problems.append(f"audio is {probe.audio_codec}, not aac")
    if (probe.width, probe.height) != (width, height):
        problems.append(f"size is {probe.width}x{probe.height}, not {width}x{height}")
    for what, seconds in (
        ("the file", probe.duration),
        ("the video stream", probe.video_duration),
        ("the audio stream", probe.audio_duration),
    ):
        if seconds is None or abs(seconds - expected_duration) > DURATION_TOLERANCE:
            problems.append(f"{what} lasts {seconds or 0:.3f} s, the narration {expected_duration:.3f} s")
    boxes = top_level_boxes(path)
    if "moov" not in boxes or "mdat" not in boxes or boxes.index("moov") > boxes.index("mdat"):
        problems.append(f"moov does not precede mdat ({json.dumps(boxes)})")
    if problems:
        raise PermanentError("The rendered video failed its checks: " + "; ".join(problems) + ".")
    return probe
