# Callwright: every target installs what it needs first (apt packages, a venv, pinned pip packages).
# Running a target twice reinstalls nothing: each step is guarded by a stamp or a presence check.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
APT_PACKAGES := espeak-ng sox python3-venv python3-dev build-essential postgresql ffmpeg
# The browser tests drive Chromium with Playwright and Firefox ESR over its own WebDriver BiDi
# server (tests/admin/firefox_bidi.py): no browser download, no geckodriver.
APT_BROWSER  := chromium firefox-esr
PYTEST_ARGS  ?=

.PHONY: all demo test bench lint system-deps browser-deps venv clean

all: test

# --- set-up ---------------------------------------------------------------------------------------

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root (or install:$$missing)"; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

browser-deps:
	@missing=""; for p in $(APT_BROWSER); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root (or install:$$missing)"; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	# Silero VAD: only its ONNX model is used (onnxruntime runs it); its own code would pull torch.
	$(BIN)/pip install -q --no-deps silero-vad==6.2.3
	$(BIN)/pip install -q --no-deps -e .
	@touch $@

venv: system-deps $(VENV)/.installed

# --- the two commands of the README ---------------------------------------------------------------

demo: venv
	$(BIN)/callwright demo

test: venv browser-deps
	$(BIN)/python -m pytest -W error --strict-skips $(PYTEST_ARGS)

# --- the rest -------------------------------------------------------------------------------------

bench: venv
	$(BIN)/python -m bench

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
