"""The GPU check, one short script for a machine with an NVIDIA GPU (a few minutes in all).

Usage: python bench/gpu.py [--device cuda] [--seconds 120] [--images 16] [--size 512] [--model PATH]

1. whisper on the device (fp16 on CUDA): the real-time factor of recognition (whisper-timestamped, beam 5
   as the stage uses on a GPU) and of forced alignment (the default for papercast's own narration) on the
   bench audio: piper reading media_pipeline/samples/paragraph.txt, repeated with pauses to --seconds.
2. the diffusers backend on the device with a tiny, randomly initialised Stable Diffusion pipeline built
   on the spot (nothing downloaded): images per second at --size, through papercast's own generator. The
   network is tiny, so this measures the pipeline's overhead and the device path, not a real model's speed.
3. the worker's peak GPU memory (torch's allocator) after each part.

Prints the device, the sizes, and one line per measurement. `--device cpu` runs the same steps on the CPU
(a dry run, to check the script where there is no GPU). Set PAPERCAST_WHISPER_MODEL (a checkpoint path; the
Makefile's default is ../shared/models/whisper/tiny.en.pt) and PAPERCAST_PIPER_VOICE as for the demo.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

from benchsetup import ROOT, fresh_django


def bench_audio(work: Path, seconds: float) -> tuple[Path, list[Any]]:
    """The paragraph read by piper sentence by sentence with 0.3 s pauses, as narrate does, repeated to at
    least `seconds`; and each sentence with its span (what narrate records, what alignment needs)."""
    from django.conf import settings

    from media_pipeline.backends.tts.piper import PiperSpeaker
    from media_pipeline.stages.forced import Sentence
    from media_pipeline.text import split_sentences

    text = (ROOT / "media_pipeline" / "samples" / "paragraph.txt").read_text().strip()
    speaker = PiperSpeaker(settings.PAPERCAST_PIPER_VOICE, voices_dir=settings.PAPERCAST_PIPER_VOICES_DIR)
    spoken: list[tuple[str, bytes]] = []
    params = None
    for n, sentence in enumerate(split_sentences(text)):
        path = work / f"s{n}.wav"
        speaker.speak(sentence, path)
        with wave.open(str(path), "rb") as source:
            params = source.getparams()
            spoken.append((sentence, source.readframes(source.getnframes())))
    assert params is not None
    pause = b"\0" * (params.sampwidth * int(params.framerate * 0.3))
    out = work / "bench.wav"
    sentences = []
    written = 0
    with wave.open(str(out), "wb") as sink:
        sink.setparams(params)
        while written / params.framerate < seconds:
            for sentence, frames in spoken:
                count = len(frames) // params.sampwidth
                start = written / params.framerate
                sentences.append(Sentence(sentence, start, start + count / params.framerate))
                sink.writeframes(frames + pause)
                written += count + len(pause) // params.sampwidth
    return out, sentences


def peak(device: str) -> str:
    import torch

    if not device.startswith("cuda"):
        return "n/a on cpu"
    return f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the bench audio")
    parser.add_argument("--images", type=int, default=16, help="images to draw with the tiny pipeline")
    parser.add_argument("--size", type=int, default=512, help="image width and height")
    args = parser.parse_args()
    data_dir = fresh_django("papercast-gpu-")
    work = Path(tempfile.mkdtemp(prefix="papercast-gpu-work-"))
    try:
        import numpy as np
        import torch
        from django.conf import settings

        from media_pipeline.backends import ffmpeg, whisper
        from media_pipeline.backends.asr import AsrOptions, as_float32
        from media_pipeline.backends.images import ImageRequest
        from media_pipeline.backends.images.diffusers import DiffusersGenerator
        from media_pipeline.stages.forced import align_sentences

        if args.device == "cuda" and not torch.cuda.is_available():
            print("no CUDA device here: run with --device cpu for a dry run")
            return 2
        name = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
        print(f"device: {name}; torch {torch.__version__}; whisper model {Path(settings.PAPERCAST_WHISPER_MODEL).name}")

        # 1. whisper
        audio, sentences = bench_audio(work, args.seconds)
        pcm = work / "bench.pcm"
        count = ffmpeg.decode_audio_to_file(audio, ffmpeg.probe_audio(audio), pcm, max_seconds=args.seconds * 3)
        samples = np.memmap(pcm, dtype=np.int16, mode="r")
        seconds = count / 16_000
        beam = 5 if args.device == "cuda" else 1
        options = AsrOptions(settings.PAPERCAST_WHISPER_MODEL, args.device, "en", beam_size=beam)
        started = time.perf_counter()
        whisper.load_model(options.model, args.device)
        print(f"whisper load: {time.perf_counter() - started:.2f} s; peak GPU memory {peak(args.device)}")
        if args.device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        result = whisper.transcribe(as_float32(np.asarray(samples)), options)
        recognised = time.perf_counter() - started
        words = sum(len(s.words) for s in result.segments)
        print(
            f"recognition ({'fp16, ' if args.device == 'cuda' else ''}beam {beam}): {seconds:.0f} s of audio in "
            f"{recognised:.2f} s, real-time factor {recognised / seconds:.4f}; {words} words; "
            f"peak GPU memory {peak(args.device)}"
        )
        # Forced alignment of the same audio, from the sentences and spans narrate would record.
        started = time.perf_counter()
        aligned = align_sentences(
            samples, sentences, options, align=whisper.align, recognise=whisper.transcribe, progress=lambda _: None
        )
        took = time.perf_counter() - started
        print(
            f"forced alignment: {seconds:.0f} s of audio in {took:.2f} s, real-time factor {took / seconds:.4f}; "
            f"{aligned.windows} windows; peak GPU memory {peak(args.device)}"
        )
        del samples

        # 2. diffusers
        sys.path.insert(0, str(ROOT))
        from tests.fakes.tiny_diffusers import build_tiny_sd

        model = build_tiny_sd(work / "tiny-sd")
        generator = DiffusersGenerator(str(model), device=args.device)
        request = ImageRequest("a diagram of bees", "", args.size, args.size, seed=1)
        generator.generate(request)  # load and warm up
        if args.device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        for seed in range(args.images):
            generator.generate(ImageRequest(f"a diagram of bees {seed}", "", args.size, args.size, seed=seed))
        if args.device == "cuda":
            torch.cuda.synchronize()
        took = time.perf_counter() - started
        print(
            f"diffusers (tiny random pipeline, {args.size}x{args.size}, the backend's default steps): "
            f"{args.images / took:.2f} images per second; peak GPU memory {peak(args.device)}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
