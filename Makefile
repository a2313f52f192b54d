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
LLAMA_BASE_ARGS := -DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF
# llama.cpp's backend: empty = the best this machine can build (scripts/llama_build.py pick: Metal on Apple Silicon,
# CUDA with nvcc and a GPU nvidia-smi lists, Vulkan with glslc, new-enough headers and a GPU device, else CPU).
# `make install BACKEND=cpu|cuda|vulkan|metal` overrides it; changing it rebuilds llama-cpp-python in $(VENV).
BACKEND ?=
# A caller's CMAKE_ARGS (the release workflow sets them) are used as they are; else the base + the backend's options.
CMAKE_ARGS_GIVEN := $(filter environment% command%,$(origin CMAKE_ARGS))
export CMAKE_ARGS ?= $(LLAMA_BASE_ARGS)
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)
TEST_MODEL := .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
# A real base model without a chat template (Gemma 3 270M, from PyPI in chunks): the tests of that case use it.
TEST_BASE_MODEL := .cache/models/gemma-3-270m-q4_k_m.gguf
TEST_EMBED_MODEL := .cache/models/all-MiniLM-L6-v2.F16.gguf
STARTERS := from pathlib import Path; from app.core.library import starter as s; \
  s.ensure_starter_model(Path('.cache/models'), Path('.cache/wheels')); \
  s.ensure_starter_embedding_model(Path('.cache/models'), Path('.cache/wheels'))

.PHONY: install run test fuzz lint format bench screenshot screenshots package package-test clean

$(VENV)/pyvenv.cfg:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

## llama: llama-cpp-python built for $(BACKEND) (printed first); rebuilt only when the backend or CMAKE_ARGS changed
.PHONY: llama
llama: | $(VENV)/pyvenv.cfg
	@$(PY) scripts/llama_build.py install --backend "$(BACKEND)" --base-args="$(LLAMA_BASE_ARGS)" $(if $(CMAKE_ARGS_GIVEN),--given)

$(VENV)/.installed: pyproject.toml | llama
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: llama $(VENV)/.installed

## run: install, fetch the starter model into the library, open the app
run: install
	$(PY) -m app setup
	$(PY) -m app

## test: the whole suite, with the real engine, the real starter models and a real base model (no chat template)
test: install
	$(PY) -c "$(STARTERS)"
	$(PY) -c "from pathlib import Path; from app.core.library.base_model import ensure_test_base_model as e; e(Path('.cache/models'), Path('.cache/wheels'))"
	HERMES_TEST_MODEL=$(abspath $(TEST_MODEL)) HERMES_TEST_EMBED_MODEL=$(abspath $(TEST_EMBED_MODEL)) \
	  HERMES_TEST_BASE_MODEL=$(abspath $(TEST_BASE_MODEL)) $(PY) -m pytest -q

## fuzz: the server fuzz suite (tests/faults/test_server_fuzz.py) with many more cases than CI's 40 per property
FUZZ_EXAMPLES ?= 1000
fuzz: install
	$(PY) -c "from pathlib import Path; from app.core.library.starter import ensure_starter_model as e; e(Path('.cache/models'), Path('.cache/wheels'))"
	HERMES_TEST_MODEL=$(abspath $(TEST_MODEL)) HERMES_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q -s tests/faults/test_server_fuzz.py

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

## vulkan-test: llama.cpp's Vulkan backend built into $(VULKAN_VENV) (the main venv stays as it is), then
## tests/gpu: the starter model fully offloaded to a Vulkan device (Mesa's lavapipe on a machine without a GPU)
VULKAN_VENV ?= .venv-vulkan
.PHONY: vulkan-venv vulkan-test
$(VULKAN_VENV)/pyvenv.cfg:
	$(PYTHON) -m venv $(VULKAN_VENV)

vulkan-venv: install | $(VULKAN_VENV)/pyvenv.cfg
	@$(VULKAN_VENV)/$(notdir $(BIN))/python scripts/llama_build.py install --backend vulkan \
	  --base-args="$(LLAMA_BASE_ARGS)" --same-version-as $(PY)

vulkan-test: vulkan-venv
	$(PY) -c "from pathlib import Path; from app.core.library.starter import ensure_starter_model as e; e(Path('.cache/models'), Path('.cache/wheels'))"
	HERMES_TEST_MODEL=$(abspath $(TEST_MODEL)) HERMES_VULKAN_PYTHON=$(abspath $(VULKAN_VENV)/$(notdir $(BIN))/python) \
	  $(PY) -m pytest -q -p no:cacheprovider tests/gpu

clean:
	rm -rf build dist .pytest_cache .ruff_cache
