"""The CLI and a model without a chat template (issue 25): the stats on stderr say so and name the format; a format
set for the file (`models set-format`) is remembered and used; `--prompt-format` for one run; bad names refused."""

from __future__ import annotations

import json
from pathlib import Path

from app.core.prompting.prompt_formats import NO_TEMPLATE
from tests.core.test_cli import run_cli

MARKUP = ("<|im_start|>", "<|im_end|>", "<start_of_turn>", "<end_of_turn>", "USER:", "ASSISTANT:", "</s>")


def test_chat_with_a_base_model_says_it_has_no_template_and_replies_cleanly(base_model: Path, tmp_path: Path) -> None:
    result = run_cli("chat", "--model", str(base_model), "--seed", "1", "--temperature", "0", "--max-tokens", "64",
                     "--context-size", "1024", "What is the capital of France?", basedir=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() and not any(mark in result.stdout for mark in MARKUP), result.stdout
    stats = result.stderr.strip().splitlines()[-1]
    assert "tok/s" in stats and f"{NO_TEMPLATE}, USER/ASSISTANT transcript" in stats and " stop " in f" {stats} "
    assert f"note: {NO_TEMPLATE}: {base_model.name} has none" in result.stderr


def test_a_format_set_for_the_file_is_remembered_and_used(base_model: Path, tmp_path: Path) -> None:
    listed = run_cli("models", "formats", basedir=tmp_path)
    assert listed.returncode == 0 and "llama.cpp:gemma" in listed.stdout and "chatml" in listed.stdout
    refused = run_cli("models", "set-format", str(base_model), "klingon", basedir=tmp_path)
    assert refused.returncode == 1 and "models formats" in refused.stderr
    assert run_cli("models", "set-format", str(base_model), "llama.cpp:gemma", basedir=tmp_path).returncode == 0
    saved = json.loads((tmp_path / "config" / "model-options.json").read_text())["models"]
    assert saved == {str(base_model.resolve()): {"prompt_format": "llama.cpp:gemma"}}
    result = run_cli("chat", "--model", str(base_model), "--max-tokens", "4", "--context-size", "512", "Hi",
                     basedir=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "the prompt format is gemma (llama.cpp built-in)" in result.stderr
    once = run_cli("chat", "--model", str(base_model), "--max-tokens", "4", "--context-size", "512",
                   "--prompt-format", "chatml", "Hi", basedir=tmp_path)  # fmt: skip
    assert once.returncode == 0 and "the prompt format is ChatML" in once.stderr, once.stderr
    assert run_cli("models", "set-format", str(base_model), "auto", basedir=tmp_path).returncode == 0
    assert json.loads((tmp_path / "config" / "model-options.json").read_text())["models"] == {}


def test_prompt_previews_a_base_model_as_its_load_would_format_it(
    base_model: Path, starter_model: Path, tmp_path: Path
) -> None:
    """`prompt --model` renders with the format a load picks (the fallback for a base model, its BOS once; a format
    set for the file), not ChatML."""
    question = "What is the capital of France?"
    base = run_cli("prompt", "--preset", "Hermes 2", "--model", str(base_model), question, basedir=tmp_path)
    assert base.returncode == 0, base.stderr
    assert base.stdout.startswith("<bos>") and base.stdout.count("<bos>") == 1, base.stdout[:80]
    assert f"USER: {question}\nASSISTANT:" in base.stdout and "<|im_start|>" not in base.stdout
    assert f"note: {NO_TEMPLATE}: using USER/ASSISTANT transcript" in base.stderr
    assert "WARNING" not in base.stderr, base.stderr  # a vocabulary read alone has no context to warn about
    assert run_cli("models", "set-format", str(base_model), "llama.cpp:gemma", basedir=tmp_path).returncode == 0
    gemma = run_cli("prompt", "--preset", "Hermes 2", "--model", str(base_model), question, basedir=tmp_path)
    assert gemma.returncode == 0 and gemma.stdout.startswith("<bos><start_of_turn>user\n"), gemma.stdout[:80]
    chatml = run_cli("prompt", "--preset", "Hermes 2", "--model", str(starter_model), "Hi", basedir=tmp_path)
    assert chatml.returncode == 0 and chatml.stdout.startswith("<|im_start|>system\n"), chatml.stderr
    assert "note: Format: model template" in chatml.stderr and NO_TEMPLATE not in chatml.stderr
