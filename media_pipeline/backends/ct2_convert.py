"""Convert an openai-whisper checkpoint (.pt) into a CTranslate2 model directory for faster-whisper, offline.

faster-whisper loads a directory with model.bin, config.json, vocabulary.json, tokenizer.json and
preprocessor_config.json. The usual way to get one (`ct2-transformers-converter --model openai/whisper-...`)
downloads a Hugging Face model. This does the same from a local openai-whisper checkpoint, without network:

1. the checkpoint's weights are renamed into a transformers `WhisperForConditionalGeneration` (every tensor
   accounted for; the output projection is tied to the token embedding, as in whisper), with a generation
   config holding whisper's special token ids, suppressed tokens and, for the official model names, the
   official alignment heads (which word timestamps depend on);
2. a byte-level BPE tokenizer.json is built from whisper's own tiktoken encoding, so every token id (special
   and timestamp tokens included) is whisper's, and checked against it;
3. ctranslate2's `TransformersConverter` converts that temporary Hugging Face directory.

The result is written atomically: it is built in a hidden directory beside `out_dir` and renamed into place,
so an interrupted conversion never leaves a half model at `out_dir`.

Quantization: float16 by default. openai-whisper checkpoints hold float16 weights, so this stores them
exactly, at half the size of float32; on a CPU with compute_type "default", CTranslate2 runs a float16 model
in float32 (or int8 if asked: PAPERCAST_FASTER_WHISPER_COMPUTE_TYPE=int8), on a GPU in float16.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
import re
import shutil
import tempfile
from base64 import b85decode
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from media_pipeline.backends.errors import PermanentError

logger = logging.getLogger(__name__)

# Bump when the output of the conversion changes: caches of converted models are keyed on it.
CONVERTER_VERSION = "1"
QUANTIZATIONS = ("float16", "float32", "bfloat16", "int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16")
DEFAULT_QUANTIZATION = "float16"
COPIED_FILES = ("tokenizer.json", "preprocessor_config.json")

# openai-whisper's names inside a residual block -> transformers' names inside a layer.
_BLOCK_NAMES = {
    "attn.query": "self_attn.q_proj",
    "attn.key": "self_attn.k_proj",
    "attn.value": "self_attn.v_proj",
    "attn.out": "self_attn.out_proj",
    "attn_ln": "self_attn_layer_norm",
    "cross_attn.query": "encoder_attn.q_proj",
    "cross_attn.key": "encoder_attn.k_proj",
    "cross_attn.value": "encoder_attn.v_proj",
    "cross_attn.out": "encoder_attn.out_proj",
    "cross_attn_ln": "encoder_attn_layer_norm",
    "mlp.0": "fc1",
    "mlp.2": "fc2",
    "mlp_ln": "final_layer_norm",
}
_TOP_NAMES = {
    "encoder.conv1": "model.encoder.conv1",
    "encoder.conv2": "model.encoder.conv2",
    "encoder.ln_post": "model.encoder.layer_norm",
    "decoder.token_embedding": "model.decoder.embed_tokens",
    "decoder.ln": "model.decoder.layer_norm",
}
_POSITION_NAMES = {
    "encoder.positional_embedding": "model.encoder.embed_positions.weight",
    "decoder.positional_embedding": "model.decoder.embed_positions.weight",
}
_TIMESTAMP = re.compile(r"<\|\d+\.\d\d\|>")  # <|0.00|> .. <|30.00|>
_BLOCK_KEY = re.compile(r"(encoder|decoder)\.blocks\.(\d+)\.(.+)\.(weight|bias)")
_DIMS = "n_mels n_audio_ctx n_audio_state n_audio_head n_audio_layer".split()
_DIMS += "n_vocab n_text_ctx n_text_state n_text_head n_text_layer".split()
# Checked in every conversion: the tokenizer must give exactly tiktoken's ids for these.
_SAMPLE_TEXTS = (
    " And so my fellow Americans, ask not what your country can do for you.",
    "It's 3.14159 -- (roughly) 22/7; isn't it? $1,000,000!",
    " naïve café, Zürich, 東京, Москва 😀\n\n\tend  ",
)


def hf_key(key: str) -> str:
    """The transformers name of an openai-whisper state-dict key; KeyError for an unknown one."""
    if key in _POSITION_NAMES:
        return _POSITION_NAMES[key]
    block = _BLOCK_KEY.fullmatch(key)
    if block:
        side, index, module, kind = block.groups()
        return f"model.{side}.layers.{index}.{_BLOCK_NAMES[module]}.{kind}"
    module, _, kind = key.rpartition(".")
    if kind not in ("weight", "bias"):
        raise KeyError(key)
    return f"{_TOP_NAMES[module]}.{kind}"


def official_name(checkpoint: Path, model_name: str | None = None) -> str | None:
    """The official whisper model name ("tiny.en" for .../tiny.en.pt) when its alignment heads are known."""
    from media_pipeline.backends import whisper

    return whisper.official_name(model_name or str(checkpoint))


def alignment_heads(name: str, layers: int, heads: int) -> list[list[int]]:
    """whisper's official alignment heads of a model, as [decoder layer, head] pairs."""
    import numpy as np
    import whisper

    mask = np.frombuffer(gzip.decompress(b85decode(whisper._ALIGNMENT_HEADS[name])), dtype=bool)
    if mask.size != layers * heads:
        raise PermanentError(
            f"The alignment heads of whisper {name!r} are for another model size ({mask.size} heads, this "
            f"checkpoint has {layers} x {heads}): name the model it really is."
        )
    return [[int(layer), int(head)] for layer, head in np.argwhere(mask.reshape(layers, heads))]


def whisper_encoding(n_vocab: int) -> Any:
    """whisper's own tiktoken encoding for a model with this vocabulary size (as whisper.model picks it)."""
    from whisper.tokenizer import get_encoding

    multilingual = n_vocab >= 51865
    num_languages = n_vocab - 51765 - int(multilingual)
    encoding = get_encoding("multilingual" if multilingual else "gpt2", num_languages=num_languages)
    if encoding.n_vocab != n_vocab:
        raise PermanentError(f"No whisper tokenizer has {n_vocab} tokens (the checkpoint's n_vocab).")
    return encoding


def _byte_characters() -> dict[int, str]:
    """The byte-level BPE alphabet: every byte as a printable character (GPT-2's table)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {byte: chr(byte) for byte in printable}
    for offset, byte in enumerate(b for b in range(256) if b not in table):
        table[byte] = chr(256 + offset)
    return table


def build_tokenizer(encoding: Any) -> Any:
    """A Hugging Face `tokenizers.Tokenizer` that encodes and decodes exactly as a tiktoken encoding.

    The vocabulary is the mergeable ranks (bytes spelled with the byte-level alphabet), the merges are every
    split of a token into two tokens, in the order of the merged token's rank (tiktoken merges the adjacent
    pair whose result ranks lowest); a piece that is a whole token is taken as it is (ignore_merges), as
    tiktoken does. Special tokens keep their ids; the timestamp tokens are added as ordinary added tokens,
    the others as special ones (as in transformers' whisper tokenizers).
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, pre_tokenizers
    from tokenizers.models import BPE

    ranks: dict[bytes, int] = encoding._mergeable_ranks
    alphabet = _byte_characters()

    def spell(token: bytes) -> str:
        return "".join(alphabet[byte] for byte in token)

    splits = sorted(
        (rank, ranks[token[:i]], ranks[token[i:]], token[:i], token[i:])
        for token, rank in ranks.items()
        for i in range(1, len(token))
        if token[:i] in ranks and token[i:] in ranks
    )
    vocab = {spell(token): rank for token, rank in ranks.items()}
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise PermanentError(f"The tiktoken encoding {encoding.name!r} does not number its tokens 0..n-1.")
    tokenizer = Tokenizer(
        BPE(vocab=vocab, merges=[(spell(left), spell(right)) for *_, left, right in splits], ignore_merges=True)
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(encoding._pat_str), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    for token in sorted(encoding.special_tokens_set, key=encoding.encode_single_token):
        tokenizer.add_tokens([AddedToken(token, normalized=False, special=not _TIMESTAMP.fullmatch(token))])
    check_tokenizer(tokenizer, encoding)
    return tokenizer


def check_tokenizer(tokenizer: Any, encoding: Any, texts: tuple[str, ...] = _SAMPLE_TEXTS) -> None:
    """PermanentError unless `tokenizer` gives the encoding's ids for every special token and the texts."""
    if tokenizer.get_vocab_size(with_added_tokens=True) != encoding.n_vocab:
        raise PermanentError(f"The tokenizer has {tokenizer.get_vocab_size()} tokens, whisper {encoding.n_vocab}.")
    for token in encoding.special_tokens_set:
        if tokenizer.token_to_id(token) != encoding.encode_single_token(token):
            raise PermanentError(f"The tokenizer numbers {token} differently from whisper.")
    for text in texts:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        if ids != encoding.encode(text, allowed_special="all") or tokenizer.decode(ids) != text:
            raise PermanentError(f"The tokenizer splits {text!r} differently from whisper.")


def _special_ids(encoding: Any) -> dict[str, int]:
    return {token: encoding.encode_single_token(token) for token in encoding.special_tokens_set}


def _suppressed_tokens(encoding: Any, multilingual: bool) -> list[int]:
    """whisper's default suppress_tokens ("-1"): the non-speech symbols and the task tokens."""
    from whisper.tokenizer import get_tokenizer

    num_languages = encoding.n_vocab - 51765 - int(multilingual)
    tokenizer = get_tokenizer(multilingual, num_languages=num_languages)
    extra = [tokenizer.transcribe, tokenizer.translate, tokenizer.sot, tokenizer.sot_prev, tokenizer.sot_lm]
    if tokenizer.no_speech is not None:
        extra.append(tokenizer.no_speech)
    return sorted({*tokenizer.non_speech_tokens, *extra})


def _read_checkpoint(checkpoint: Path) -> tuple[dict[str, int], dict[str, Any]]:
    import pickle
    import zipfile

    import torch

    if not checkpoint.is_file():
        raise PermanentError(f"The whisper checkpoint {str(checkpoint)!r} does not exist or is not a file.")
    try:
        loaded = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        raise PermanentError(f"The whisper checkpoint {str(checkpoint)!r} could not be read: {exc}") from exc
    if not isinstance(loaded, dict) or not {"dims", "model_state_dict"} <= loaded.keys():
        raise PermanentError(
            f"{str(checkpoint)!r} is not an openai-whisper checkpoint (it lacks 'dims' and 'model_state_dict')."
        )
    dims = loaded["dims"]
    missing = [name for name in _DIMS if not isinstance(dims.get(name), int)]
    if missing:
        raise PermanentError(f"The whisper checkpoint {str(checkpoint)!r} lacks the dimensions {', '.join(missing)}.")
    if dims["n_audio_state"] != dims["n_text_state"]:
        raise PermanentError("The checkpoint's encoder and decoder widths differ; transformers' Whisper needs one.")
    return {name: int(dims[name]) for name in _DIMS}, dict(loaded["model_state_dict"])


def _hf_model(dims: dict[str, int], state: dict[str, Any], encoding: Any, heads: list[list[int]] | None) -> Any:
    """transformers' WhisperForConditionalGeneration holding the checkpoint's tensors (no copies)."""
    import torch
    from transformers import GenerationConfig, WhisperConfig, WhisperForConditionalGeneration

    special = _special_ids(encoding)
    multilingual = dims["n_vocab"] >= 51865
    eot, sot = special["<|endoftext|>"], special["<|startoftranscript|>"]
    blank = encoding.encode(" ")
    suppress = _suppressed_tokens(encoding, multilingual)
    config = WhisperConfig(
        vocab_size=dims["n_vocab"],
        num_mel_bins=dims["n_mels"],
        d_model=dims["n_audio_state"],
        encoder_layers=dims["n_audio_layer"],
        encoder_attention_heads=dims["n_audio_head"],
        encoder_ffn_dim=4 * dims["n_audio_state"],
        decoder_layers=dims["n_text_layer"],
        decoder_attention_heads=dims["n_text_head"],
        decoder_ffn_dim=4 * dims["n_text_state"],
        max_source_positions=dims["n_audio_ctx"],
        max_target_positions=dims["n_text_ctx"],
        activation_function="gelu",
        scale_embedding=False,
        tie_word_embeddings=True,
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        decoder_start_token_id=sot,
        suppress_tokens=suppress,
        begin_suppress_tokens=[*blank, eot],
    )
    renamed: dict[str, Any] = {}
    for key, tensor in state.items():
        try:
            renamed[hf_key(key)] = tensor
        except KeyError:
            raise PermanentError(f"The checkpoint holds a tensor whisper does not have: {key!r}.") from None
    dtypes = {tensor.dtype for tensor in renamed.values()}
    if len(dtypes) != 1:
        raise PermanentError(f"The checkpoint mixes tensor types ({sorted(map(str, dtypes))}).")
    config.dtype = next(iter(dtypes))
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(config)
    try:
        missing, unexpected = model.load_state_dict(renamed, strict=False, assign=True)
    except RuntimeError as exc:  # shapes that do not fit the dimensions
        raise PermanentError(f"The checkpoint's tensors do not fit its dimensions: {exc}") from exc
    missing = [key for key in missing if key != "proj_out.weight"]  # tied to the token embedding
    if missing or unexpected:
        raise PermanentError(f"The checkpoint does not map onto Whisper: missing {missing}, unexpected {unexpected}.")
    model.tie_weights()
    if model.proj_out.weight.data_ptr() != model.model.decoder.embed_tokens.weight.data_ptr():
        raise PermanentError("The output projection could not be tied to the token embedding.")
    leftover = [name for name, value in [*model.named_parameters(), *model.named_buffers()] if value.is_meta]
    if leftover:
        raise PermanentError(f"The checkpoint leaves these Whisper tensors unset: {leftover}.")
    languages = {token[2:-2]: special[token] for token in encoding.special_tokens_set if _is_language(token)}
    generation: dict[str, Any] = {
        "decoder_start_token_id": sot,
        "bos_token_id": eot,
        "eos_token_id": eot,
        "pad_token_id": eot,
        "max_length": dims["n_text_ctx"],
        "suppress_tokens": suppress,
        "begin_suppress_tokens": [*blank, eot],
        "no_timestamps_token_id": special["<|notimestamps|>"],
        "prev_sot_token_id": special["<|startofprev|>"],
        "is_multilingual": multilingual,
        # ctranslate2 takes its language ids from here; English-only models list them too, as whisper's do.
        "lang_to_id": {f"<|{code}|>": index for code, index in sorted(languages.items(), key=lambda i: i[1])},
        "task_to_id": {"translate": special["<|translate|>"], "transcribe": special["<|transcribe|>"]},
    }
    if heads is not None:
        generation["alignment_heads"] = heads
    model.generation_config = GenerationConfig(**generation)
    return model


def _is_language(token: str) -> bool:
    from whisper.tokenizer import LANGUAGES

    return token[2:-2] in LANGUAGES and token.startswith("<|") and token.endswith("|>")


def _write_hf_directory(
    directory: Path, dims: dict[str, int], state: dict[str, Any], encoding: Any, heads: list[list[int]] | None
) -> None:
    from whisper import audio

    model = _hf_model(dims, state, encoding, heads)
    model.save_pretrained(directory)
    del model
    tokenizer = build_tokenizer(encoding)
    tokenizer.save(str(directory / "tokenizer.json"))
    specials = sorted(
        (t for t in encoding.special_tokens_set if not _TIMESTAMP.fullmatch(t)),
        key=encoding.encode_single_token,
    )
    tokenizer_config = {
        "tokenizer_class": "WhisperTokenizer",
        "bos_token": "<|endoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "additional_special_tokens": specials,
        "add_prefix_space": False,
        "model_max_length": dims["n_text_ctx"],
        "errors": "replace",
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n")
    preprocessor = {
        "feature_extractor_type": "WhisperFeatureExtractor",
        "processor_class": "WhisperProcessor",
        "feature_size": dims["n_mels"],  # faster-whisper computes this many mel bins (80, or 128 for large-v3)
        "sampling_rate": audio.SAMPLE_RATE,
        "hop_length": audio.HOP_LENGTH,
        "n_fft": audio.N_FFT,
        "chunk_length": audio.CHUNK_LENGTH,
        "n_samples": audio.N_SAMPLES,
        "nb_max_frames": audio.N_FRAMES,
        "padding_side": "right",
        "padding_value": 0.0,
        "return_attention_mask": False,
    }
    (directory / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2) + "\n")


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """No Hugging Face hub access while converting (everything is read from local files anyway)."""
    names = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(dict.fromkeys(names, "1"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _check_output(directory: Path, encoding: Any) -> None:
    missing = [name for name in ("model.bin", "config.json", *COPIED_FILES) if not (directory / name).is_file()]
    vocabulary_file = directory / "vocabulary.json"
    if missing or not vocabulary_file.is_file():
        raise PermanentError(f"The conversion did not write {', '.join(missing) or 'vocabulary.json'}.")
    vocabulary = json.loads(vocabulary_file.read_text())
    if len(vocabulary) != encoding.n_vocab:
        raise PermanentError(f"The converted vocabulary has {len(vocabulary)} tokens, whisper {encoding.n_vocab}.")
    wrong = [token for token, index in _special_ids(encoding).items() if vocabulary[index] != token]
    if wrong:
        raise PermanentError(f"The converted vocabulary numbers {', '.join(wrong[:5])} differently from whisper.")


def convert_checkpoint(
    checkpoint: Path,
    out_dir: Path,
    *,
    quantization: str = DEFAULT_QUANTIZATION,
    force: bool = False,
    model_name: str | None = None,
) -> Path:
    """Convert an openai-whisper checkpoint into a faster-whisper (CTranslate2) model directory at `out_dir`.

    `model_name` is the official name whose alignment heads apply (default: the file name without .pt, used
    when whisper knows it; otherwise CTranslate2's default heads, the last half of the decoder's, are kept).
    `out_dir` must not exist or be empty, unless `force` replaces it. Returns `out_dir`.
    Raises PermanentError for a missing or unreadable checkpoint and any output it cannot write.
    """
    checkpoint, out_dir = Path(checkpoint).expanduser(), Path(out_dir).expanduser()
    if quantization not in QUANTIZATIONS:
        raise PermanentError(f"Unknown quantization {quantization!r}; choose one of {', '.join(QUANTIZATIONS)}.")
    if model_name is not None and official_name(checkpoint, model_name) is None:
        raise PermanentError(f"whisper has no alignment heads for a model named {model_name!r}.")
    if not checkpoint.is_file():
        raise PermanentError(f"The whisper checkpoint {str(checkpoint)!r} does not exist or is not a file.")
    if out_dir.exists() and not out_dir.is_dir():
        raise PermanentError(f"The output {str(out_dir)!r} exists and is not a directory.")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise PermanentError(f"The output directory {str(out_dir)!r} is not empty (use --force to replace it).")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".converting", dir=out_dir.parent))
    except OSError as exc:
        raise PermanentError(f"Cannot write beside {str(out_dir)!r}: {exc}") from exc
    try:
        with _offline():
            dims, state = _read_checkpoint(checkpoint)
            encoding = whisper_encoding(dims["n_vocab"])
            name = official_name(checkpoint, model_name)
            heads = alignment_heads(name, dims["n_text_layer"], dims["n_text_head"]) if name else None
            if heads is None:
                logger.warning("No official alignment heads for %s: word timings use the default heads.", checkpoint)
            hf_dir, ct2_dir = staging / "hf", staging / "ct2"
            _write_hf_directory(hf_dir, dims, state, encoding, heads)
            del state
            from ctranslate2.converters import TransformersConverter

            converter = TransformersConverter(str(hf_dir), copy_files=list(COPIED_FILES))
            try:
                converter.convert(str(ct2_dir), quantization=quantization)
            except (ValueError, RuntimeError, NotImplementedError) as exc:
                raise PermanentError(f"CTranslate2 could not convert {str(checkpoint)!r}: {exc}") from exc
        _check_output(ct2_dir, encoding)
        previous = None
        if out_dir.is_dir():  # empty, or replaced with force: moved aside, then deleted with the staging dir
            previous = staging / "previous"
            out_dir.rename(previous)
        try:
            ct2_dir.rename(out_dir)
        except OSError:
            if previous is not None:
                previous.rename(out_dir)
            raise
    except OSError as exc:
        raise PermanentError(f"Could not write the converted model to {str(out_dir)!r}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir
