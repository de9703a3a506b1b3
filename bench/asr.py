"""Transcription benchmarks, in one run:

1. the transcribe stage's wall time over calling whisper_timestamped.transcribe directly on the same file
   with the same options (the stage adds probing, decoding, piece planning, guards, alignment, rows);
2. faster-whisper's speed and word error rate beside whisper-timestamped's (needs a CTranslate2 model
   directory in PAPERCAST_FASTER_WHISPER_MODEL; reported as skipped otherwise);
3. the stage's peak memory on a long file (default 30 minutes), measured in a child process.

Usage: python bench/asr.py [--minutes 30] [--short-repeats 4]
The audio is the piper voice reading a paragraph, repeated with pauses (PAPERCAST_PIPER_VOICE and
PAPERCAST_WHISPER_MODEL as for the demo). Everything runs in a temporary data dir.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import wave
from pathlib import Path

from benchsetup import ROOT, fresh_django

PARAGRAPH = (ROOT / "media_pipeline" / "samples" / "paragraph.txt").read_text().strip()


def make_recording(work: Path, *, min_seconds: float) -> tuple[Path, int]:
    from django.conf import settings

    from media_pipeline.backends.tts.piper import PiperSpeaker

    once = work / "once.wav"
    PiperSpeaker(settings.PAPERCAST_PIPER_VOICE, voices_dir=settings.PAPERCAST_PIPER_VOICES_DIR).speak(PARAGRAPH, once)
    with wave.open(str(once), "rb") as source:
        rate, frames = source.getframerate(), source.readframes(source.getnframes())
    pause = b"\x00\x00" * int(rate * 2.0)
    reading = (len(frames) + len(pause)) / 2 / rate
    repeats = max(int(min_seconds // reading) + (1 if min_seconds % reading else 0), 1)
    path = work / f"reading-{repeats}.wav"
    with wave.open(str(path), "wb") as sink:
        sink.setnchannels(1)
        sink.setsampwidth(2)
        sink.setframerate(rate)
        for _ in range(repeats):
            sink.writeframes(frames + pause)
    return path, repeats


def run_stage(path: Path) -> tuple[float, dict[str, object], list[str]]:
    """The transcribe stage on an audio paper; wall seconds, the run's metrics, the words."""
    from media_pipeline import pipeline
    from media_pipeline.models import StageRun, Transcription, Word
    from projects import services

    project = services.project_get_or_create(slug="bench", name="Bench", owner=None)
    with path.open("rb") as handle:
        paper = services.paper_create_from_audio(project=project, title=path.stem, file=handle, filename=path.name)
    started = time.perf_counter()
    with pipeline.inline():
        pipeline.pipeline_start(paper, until="transcribe")
        pipeline.drain()
    seconds = time.perf_counter() - started
    run = StageRun.objects.get(paper=paper, stage="transcribe")
    if run.status != "succeeded":
        raise SystemExit(f"the transcribe stage failed: {run.error}")
    transcription = Transcription.objects.get(paper=paper)
    words = list(Word.objects.filter(transcription=transcription).order_by("index").values_list("text", flat=True))
    return seconds, run.metrics, words


def direct(path: Path, engine_name: str) -> tuple[float, list[str]]:
    """The engine called directly on the decoded file, with the options the stage uses."""
    import numpy as np
    from django.conf import settings

    from media_pipeline.backends import ffmpeg
    from media_pipeline.backends.asr import as_float32
    from media_pipeline.stages.transcribe import asr_options

    pcm = path.with_suffix(".pcm")
    ffmpeg.decode_audio_to_file(path, ffmpeg.probe_audio(path), pcm)
    audio = as_float32(np.fromfile(pcm, dtype=np.int16))
    model = (
        settings.PAPERCAST_FASTER_WHISPER_MODEL if engine_name == "faster-whisper" else settings.PAPERCAST_WHISPER_MODEL
    )
    options = asr_options(model, settings.PAPERCAST_WHISPER_LANGUAGE)
    if engine_name == "whisper-timestamped":
        import whisper_timestamped

        from media_pipeline.backends import whisper
        from media_pipeline.backends.asr import TEMPERATURES

        model = whisper.load_model(options.model, options.device)
        beam = options.beam_size if options.beam_size > 1 else None
        started = time.perf_counter()
        result = whisper_timestamped.transcribe(
            model, audio, language=options.language, beam_size=beam, best_of=beam,
            temperature=TEMPERATURES if options.temperature_fallback else 0.0,
            fp16=options.device == "cuda", verbose=None, seed=1234,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        return seconds, [w["text"] for s in result["segments"] for w in s.get("words", [])]
    from media_pipeline.backends import faster_whisper

    started = time.perf_counter()
    transcript = faster_whisper.transcribe(audio, options)
    seconds = time.perf_counter() - started
    return seconds, [w.text for s in transcript.segments for w in s.words]


def child_peak_memory(path: Path) -> None:
    """Run in a child: the stage on `path`, then print its peak resident memory."""
    seconds, metrics, words = run_stage(path)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_mb": peak_kb / 1024, "metrics": metrics, "words": len(words)}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the file for the memory figure")
    parser.add_argument("--short-seconds", type=float, default=180.0, help="length of the file for the ratios")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    data_dir = fresh_django("papercast-asr-bench-")
    try:
        if args.child:
            child_peak_memory(args.child)
            return 0
        from django.conf import settings

        from media_pipeline.backends.tts.piper import resolve_voice
        from media_pipeline.stages.align import word_error_rate

        voice = resolve_voice(settings.PAPERCAST_PIPER_VOICE, settings.PAPERCAST_PIPER_VOICES_DIR).name
        print(f"whisper model: {settings.PAPERCAST_WHISPER_MODEL}")
        print(f"faster-whisper model: {settings.PAPERCAST_FASTER_WHISPER_MODEL}; voice: {voice}")
        work = data_dir / "audio"
        work.mkdir()
        short, repeats = make_recording(work, min_seconds=args.short_seconds)
        script = PARAGRAPH.split() * repeats
        with wave.open(str(short), "rb") as handle:
            short_seconds = handle.getnframes() / handle.getframerate()
        print(f"\n1. stage over direct call, {short_seconds:.1f} s of audio ({repeats} readings)")
        direct_seconds, direct_words = direct(short, "whisper-timestamped")  # also loads the model
        direct_seconds, direct_words = direct(short, "whisper-timestamped")
        stage_seconds, metrics, stage_words = run_stage(short)
        direct_wer, stage_wer = word_error_rate(direct_words, script), word_error_rate(stage_words, script)
        print(f"   direct whisper_timestamped.transcribe: {direct_seconds:7.2f} s  WER {direct_wer:.4f}")
        print(f"   transcribe stage (whole run):          {stage_seconds:7.2f} s  WER {stage_wer:.4f}")
        print(f"   (stage: {metrics.get('pieces')} pieces, engine {metrics.get('engine_seconds')} s)")
        print(f"   ratio stage / direct: {stage_seconds / direct_seconds:.3f}  (target <= 1.10)")

        print("\n2. faster-whisper beside whisper-timestamped")
        model = Path(settings.PAPERCAST_FASTER_WHISPER_MODEL)
        if model.is_dir():
            settings.PAPERCAST_TRANSCRIBER = "faster-whisper"
            direct(short, "faster-whisper")
            fw_seconds, fw_words = direct(short, "faster-whisper")
            settings.PAPERCAST_TRANSCRIBER = "whisper-timestamped"
            fw_wer = word_error_rate(fw_words, script)
            fw_speed = short_seconds / fw_seconds
            print(f"   faster-whisper:      {fw_seconds:7.2f} s ({fw_speed:.1f}x real time) WER {fw_wer:.4f}")
            speed = short_seconds / direct_seconds
            print(f"   whisper-timestamped: {direct_seconds:7.2f} s ({speed:.1f}x real time) WER {direct_wer:.4f}")
            print(f"   speed-up: {direct_seconds / fw_seconds:.2f}x")
        else:
            print("   skipped: PAPERCAST_FASTER_WHISPER_MODEL is not a CTranslate2 model directory on this machine")

        print(f"\n3. peak memory of the stage on {args.minutes:.0f} minutes of audio (child process)")
        long, long_repeats = make_recording(work, min_seconds=args.minutes * 60)
        child = subprocess.run(
            [sys.executable, __file__, "--child", str(long)],
            capture_output=True,
            text=True,
            check=False,
            env=os.environ,
        )
        if child.returncode != 0:
            print(child.stderr[-2000:])
            return 1
        report = json.loads(child.stdout.strip().splitlines()[-1])
        expected = len(PARAGRAPH.split()) * long_repeats
        print(f"   {report['seconds']:.1f} s, peak resident memory {report['peak_mb']:.0f} MB")
        print(f"   {report['metrics'].get('pieces')} pieces, {report['words']} words (script: {expected})")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
