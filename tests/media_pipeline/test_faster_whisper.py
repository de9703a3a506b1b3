"""faster-whisper: the same rows as whisper-timestamped. Its CTranslate2 model is converted from the whisper
checkpoint the other tests use (tests.conftest.WHISPER_MODEL), once, and cached in the temp dir across runs
and xdist workers; a directory in PAPERCAST_FASTER_WHISPER_MODEL is used instead when one is set."""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from media_pipeline.backends import ct2_convert
from media_pipeline.models import RunStatus, Stage, StageRun, Transcription, Word
from projects.models import Project
from tests.conftest import JFK, WHISPER_MODEL, make_audio_paper, run_inline

pytestmark = pytest.mark.django_db(transaction=True)
CT2_CACHE = Path(tempfile.gettempdir()) / "papercast-test-ct2"
# What whisper-timestamped hears in the clip with the same checkpoint (see shared/models/MANIFEST.md).
JFK_WORDS = "and so my fellow americans ask not what your country can do for you ask what you can do for your country"
TEXTS = (
    "Hello, world!",
    " And so my fellow Americans, ask not what your country can do for you.",
    "In 1961, 3.5% of 1,000,000 people paid $12.99 -- or (roughly) 22/7 each; isn't it?",
    " naïve café in Zürich: “quotes”, Grüße, 東京タワー, Москва, 😀🐝\n\n\tend  ",
    "<|endoftext|> text with special tokens <|0.00|> in it",
)


@pytest.fixture(scope="session")
def ct2_model() -> Path:
    """A CTranslate2 model directory: the configured one, or WHISPER_MODEL converted once (file-locked)."""
    configured = os.environ.get("PAPERCAST_FASTER_WHISPER_MODEL", "")
    if configured and Path(configured).is_dir():
        return Path(configured)
    checkpoint = Path(WHISPER_MODEL)
    if not checkpoint.is_file():
        pytest.skip(f"PAPERCAST_WHISPER_MODEL {WHISPER_MODEL!r} is not a checkpoint file to convert")
    digest = hashlib.sha256()
    with checkpoint.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    CT2_CACHE.mkdir(parents=True, exist_ok=True)
    target = CT2_CACHE / f"{digest.hexdigest()[:16]}-{ct2_convert.CONVERTER_VERSION}"
    with (CT2_CACHE / f"{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other xdist worker waits, then finds the model converted
        if not target.is_dir():  # conversions are renamed into place whole: a directory there is complete
            ct2_convert.convert_checkpoint(checkpoint, target)
    return target


def _failure(project: Project, settings: Any, model: str) -> str:
    settings.PAPERCAST_TRANSCRIBER = "faster-whisper"
    settings.PAPERCAST_FASTER_WHISPER_MODEL = model
    paper = make_audio_paper(project, JFK)
    run_inline(paper, until="transcribe")
    run = StageRun.objects.get(paper=paper, stage=Stage.TRANSCRIBE)
    assert run.status == RunStatus.FAILED and run.attempts == 1
    return run.error


def test_a_missing_model_directory_fails_clearly(project: Project, settings: Any) -> None:
    assert "is not a directory" in _failure(project, settings, "/nonexistent/ct2-tiny")


def test_an_incomplete_model_directory_names_what_is_missing(project: Project, settings: Any, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    error = _failure(project, settings, str(tmp_path))
    assert "lacks model.bin, tokenizer.json" in error and "manage.py convert_whisper" in error


@pytest.mark.slow
def test_faster_whisper_transcribes_jfk_into_the_same_rows(project: Project, settings: Any, ct2_model: Path) -> None:
    settings.PAPERCAST_TRANSCRIBER = "faster-whisper"
    settings.PAPERCAST_FASTER_WHISPER_MODEL = str(ct2_model)
    paper = make_audio_paper(project, JFK)
    run_inline(paper, until="transcribe")
    transcription = Transcription.objects.get(paper=paper)
    assert transcription.engine == "faster-whisper"
    assert "my fellow americans" in transcription.text.lower()
    americans = Word.objects.get(transcription=transcription, text__istartswith="americans")
    assert americans.start <= 1.8 <= americans.end and americans.confidence is not None
    words = Word.objects.filter(transcription=transcription).order_by("index").values_list("text", flat=True)
    assert " ".join(re.sub(r"[^\w']", "", w).lower() for w in words) == JFK_WORDS


@pytest.mark.parametrize("n_vocab", [51864, 51865, 51866], ids=["english", "multilingual", "large-v3"])
def test_the_converted_tokenizer_numbers_every_token_as_whisper_does(n_vocab: int) -> None:
    encoding = ct2_convert.whisper_encoding(n_vocab)
    tokenizer = ct2_convert.build_tokenizer(encoding)
    for text in TEXTS:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        assert ids == encoding.encode(text, allowed_special="all"), text
        assert tokenizer.decode(ids, skip_special_tokens=False) == text
    specials = {token: encoding.encode_single_token(token) for token in encoding.special_tokens_set}
    assert max(specials.values()) == n_vocab - 1  # the timestamp tokens <|0.00|>..<|30.00|> come last
    assert {token: tokenizer.token_to_id(token) for token in specials} == specials
    assert tokenizer.get_vocab_size(with_added_tokens=True) == n_vocab


@pytest.mark.slow
def test_the_converted_model_directory_keeps_whisper_s_ids_and_settings(ct2_model: Path) -> None:
    import tokenizers
    import torch
    import whisper
    from faster_whisper.tokenizer import Tokenizer
    from whisper.tokenizer import get_tokenizer

    vocabulary = json.loads((ct2_model / "vocabulary.json").read_text())
    multilingual = len(vocabulary) >= 51865
    reference = get_tokenizer(multilingual, num_languages=len(vocabulary) - 51765 - int(multilingual))
    hf_tokenizer = tokenizers.Tokenizer.from_file(str(ct2_model / "tokenizer.json"))
    loaded = Tokenizer(hf_tokenizer, multilingual, task="transcribe", language="en")
    for text in TEXTS[:4]:
        assert loaded.encode(text) == reference.encode(text)
    assert loaded.non_speech_tokens == reference.non_speech_tokens
    assert (loaded.sot, loaded.eot, loaded.no_speech, loaded.no_timestamps, loaded.sot_prev) == (
        reference.sot, reference.eot, reference.no_speech, reference.no_timestamps, reference.sot_prev
    )  # fmt: skip
    assert all(vocabulary[reference.encoding.encode_single_token(t)] == t for t in reference.special_tokens)
    if ct2_model.parent != CT2_CACHE:
        return  # a configured directory: not necessarily converted from WHISPER_MODEL
    config = json.loads((ct2_model / "config.json").read_text())
    dims = whisper.model.ModelDimensions(**torch.load(WHISPER_MODEL, map_location="cpu", weights_only=True)["dims"])
    assert json.loads((ct2_model / "preprocessor_config.json").read_text())["feature_size"] == dims.n_mels
    name = ct2_convert.official_name(Path(WHISPER_MODEL))
    if name is not None:  # whisper's own reading of the official heads
        fresh = whisper.model.Whisper(dims)
        fresh.set_alignment_heads(whisper._ALIGNMENT_HEADS[name])
        assert config["alignment_heads"] == fresh.alignment_heads.to_dense().nonzero().tolist()


def test_the_command_refuses_a_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"checkpoint '.*nope\.pt' does not exist"):
        call_command("convert_whisper", str(tmp_path / "nope.pt"), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_the_command_refuses_a_non_empty_output_directory_without_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(CommandError, match=r"is not empty \(use --force to replace it\)"):
        call_command("convert_whisper", WHISPER_MODEL, str(out))
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_an_unreadable_checkpoint_fails_clearly_and_writes_nothing(tmp_dir: Path) -> None:
    broken = tmp_dir / "tiny.en.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(ct2_convert.PermanentError, match="could not be read"):
        ct2_convert.convert_checkpoint(broken, tmp_dir / "out")
    assert [p.name for p in tmp_dir.iterdir()] == ["tiny.en.pt"]  # no half directory, no staging one left


def test_an_interrupted_conversion_leaves_no_half_directory(tmp_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(directory: Path, *args: Any) -> None:
        directory.mkdir()
        (directory / "model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(ct2_convert, "_write_hf_directory", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ct2_convert.convert_checkpoint(Path(WHISPER_MODEL), tmp_dir / "out")
    assert list(tmp_dir.iterdir()) == []


@pytest.mark.slow
def test_the_command_converts_and_replaces_with_force(tmp_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_dir / "ct2"
    out.mkdir()
    (out / "old.txt").write_text("old")
    call_command("convert_whisper", WHISPER_MODEL, str(out), "--force", "--quantization", "int8")
    printed = capsys.readouterr().out
    assert f"PAPERCAST_FASTER_WHISPER_MODEL={out.resolve()}" in printed and "PAPERCAST_TRANSCRIBER=auto" in printed
    assert "official ones of 'tiny.en'" in printed and "int8" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json", "model.bin", "preprocessor_config.json", "tokenizer.json", "vocabulary.json"
    ]  # fmt: skip
    assert [p.name for p in tmp_dir.iterdir()] == ["ct2"]  # the old directory and the staging one are gone


@pytest.mark.slow
@pytest.mark.parametrize(("n_vocab", "n_mels", "languages"), [(51865, 80, 99), (51866, 128, 100)])
def test_a_multilingual_checkpoint_converts_with_its_languages_and_mel_bins(
    tmp_dir: Path, n_vocab: int, n_mels: int, languages: int
) -> None:
    """A small random multilingual model (no official name: the default alignment heads) in whisper's layout."""
    import dataclasses

    import torch
    from faster_whisper import WhisperModel
    from whisper.model import ModelDimensions, Whisper

    dims = ModelDimensions(
        n_mels=n_mels, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=2,
        n_vocab=n_vocab, n_text_ctx=448, n_text_state=64, n_text_head=2, n_text_layer=2,
    )  # fmt: skip
    checkpoint = tmp_dir / "random-multilingual.pt"
    torch.save({"dims": dataclasses.asdict(dims), "model_state_dict": Whisper(dims).half().state_dict()}, checkpoint)
    out = ct2_convert.convert_checkpoint(checkpoint, tmp_dir / "ct2", quantization="float32")
    config = json.loads((out / "config.json").read_text())
    encoding = ct2_convert.whisper_encoding(n_vocab)
    first = encoding.encode_single_token("<|en|>")
    assert config["lang_ids"] == list(range(first, first + languages))
    assert config["alignment_heads"] == [[1, 0], [1, 1]]  # CTranslate2's default: the last half of the layers
    assert json.loads((out / "preprocessor_config.json").read_text())["feature_size"] == n_mels
    model = WhisperModel(str(out), device="cpu")
    assert (
        model.model.is_multilingual
        and model.model.n_mels == n_mels
        and model.feature_extractor.mel_filters.shape[0] == n_mels
    )


def test_auto_picks_faster_whisper_on_a_cpu_with_a_converted_model_and_whisper_timestamped_otherwise(
    settings: Any, ct2_model: Path, tmp_path: Path
) -> None:
    from projects.installed import transcriber

    settings.PAPERCAST_TRANSCRIBER = "auto"
    settings.PAPERCAST_FASTER_WHISPER_MODEL = str(ct2_model)
    settings.PAPERCAST_WHISPER_DEVICE = "cpu"
    assert transcriber() == "faster-whisper"
    settings.PAPERCAST_WHISPER_DEVICE = "cuda"  # GPUs keep whisper-timestamped
    assert transcriber() == "whisper-timestamped"
    settings.PAPERCAST_WHISPER_DEVICE = "cpu"
    settings.PAPERCAST_FASTER_WHISPER_MODEL = str(tmp_path / "not-converted")  # nothing to run it with
    assert transcriber() == "whisper-timestamped"
    settings.PAPERCAST_FASTER_WHISPER_MODEL = ""
    assert transcriber() == "whisper-timestamped"
    settings.PAPERCAST_TRANSCRIBER = "whisper-timestamped"
    settings.PAPERCAST_FASTER_WHISPER_MODEL = str(ct2_model)
    assert transcriber() == "whisper-timestamped"  # a choice is kept


@pytest.mark.slow
def test_on_the_cpu_default_the_narration_is_aligned_and_a_check_recognised_by_faster_whisper(
    project: Project, settings: Any, ct2_model: Path
) -> None:
    """The embedded defaults on a CPU worker: papercast's own narration is force-aligned by CTranslate2, and
    a "check by listening" is recognised by faster-whisper; both keep the script's words."""
    from media_pipeline import pipeline
    from media_pipeline.selectors import spoken_script, transcription_current
    from media_pipeline.stages.align import script_tokens
    from tests.conftest import make_text_paper

    settings.PAPERCAST_TRANSCRIBER = "auto"
    settings.PAPERCAST_FASTER_WHISPER_MODEL = str(ct2_model)
    paper = make_text_paper(project, "Scouts search for a new home. The swarm follows the best dancer, not the first.")
    run_inline(paper, until="transcribe")
    aligned = transcription_current(paper)
    assert aligned is not None and (aligned.engine, aligned.method) == ("faster-whisper", "align")
    words = list(aligned.words.order_by("index").values_list("start", "end", "text"))
    assert [w for _, _, w in words] == script_tokens(spoken_script(paper))
    assert all(a[1] <= b[0] + 1e-6 and a[0] <= a[1] for a, b in itertools.pairwise(words))
    with pipeline.inline():
        pipeline.check_by_listening(paper)
        pipeline.drain()
    heard = transcription_current(paper)
    assert heard is not None and (heard.engine, heard.method) == ("faster-whisper", "recognise")
    assert heard.script_wer is not None and heard.aligned_to_script  # what it heard is measured, not kept
    assert [w for w in heard.words.order_by("index").values_list("text", flat=True)] == [w for _, _, w in words]
