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

.PHONY: demo test test-fast lint typecheck check setup system-deps test-deps migrate run worker gpu-worker bench clean

$(BIN)/.installed: requirements.txt requirements-dev.txt uploader/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

setup: system-deps $(BIN)/.installed

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

# The browser tests drive Debian's Chromium (Playwright never downloads a browser here).
TEST_PACKAGES := chromium
test-deps:
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
