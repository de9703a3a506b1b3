"""convert_whisper: make a faster-whisper (CTranslate2) model directory from an openai-whisper checkpoint, offline."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from media_pipeline.backends import ct2_convert
from media_pipeline.backends.errors import PermanentError


class Command(BaseCommand):
    help = (
        "Convert an openai-whisper checkpoint (e.g. tiny.en.pt) into a CTranslate2 model directory for the "
        "faster-whisper transcriber, without network. OUT_DIR must not exist or be empty (or use --force)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("checkpoint", type=Path, help="The openai-whisper checkpoint (.pt).")
        parser.add_argument("out_dir", type=Path, help="The model directory to create.")
        parser.add_argument(
            "--quantization",
            choices=ct2_convert.QUANTIZATIONS,
            default=ct2_convert.DEFAULT_QUANTIZATION,
            help=f"How the weights are stored (default {ct2_convert.DEFAULT_QUANTIZATION}: whisper's own weights, "
            "exactly; runs in float32 on a CPU).",
        )
        parser.add_argument("--force", action="store_true", help="Replace OUT_DIR if it is not empty.")
        parser.add_argument(
            "--model-name",
            help="The official model name whose alignment heads apply (default: the file name without .pt).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        checkpoint: Path = options["checkpoint"]
        out_dir: Path = options["out_dir"]
        self.stderr.write(f"Converting {checkpoint} ({options['quantization']})…")
        started = time.monotonic()
        try:
            converted = ct2_convert.convert_checkpoint(
                checkpoint,
                out_dir,
                quantization=options["quantization"],
                force=options["force"],
                model_name=options["model_name"],
            )
        except PermanentError as exc:
            raise CommandError(str(exc)) from exc
        seconds = time.monotonic() - started
        config = json.loads((converted / "config.json").read_text())
        preprocessor = json.loads((converted / "preprocessor_config.json").read_text())
        name = ct2_convert.official_name(checkpoint, options["model_name"])
        heads = f"official ones of {name!r}" if name else "CTranslate2's defaults (no official ones known)"
        size = (converted / "model.bin").stat().st_size / 1e6
        self.stdout.write(self.style.SUCCESS(f"Converted in {seconds:.1f} s: {converted.resolve()}"))
        self.stdout.write(f"  Weights:         model.bin, {size:.1f} MB, {options['quantization']}")
        self.stdout.write(f"  Mel bins:        {preprocessor['feature_size']}")
        self.stdout.write(f"  Alignment heads: {len(config.get('alignment_heads') or [])}, {heads}")
        self.stdout.write("  Use it with:")
        self.stdout.write(
            "    PAPERCAST_TRANSCRIBER=auto (the default: faster-whisper on CPU workers) or faster-whisper"
        )
        self.stdout.write(f"    PAPERCAST_FASTER_WHISPER_MODEL={converted.resolve()}")
