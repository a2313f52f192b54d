"""The CLI, run as a user runs it: a separate process, the real engine."""

import json
import os
import subprocess
import sys
from pathlib import Path

from app import __version__


def run_cli(*args: str, basedir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "--basedir", str(basedir), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_chat_streams_a_reply_to_stdout_and_stats_to_stderr(starter_model: Path, tmp_path: Path) -> None:
    result = run_cli("chat", "--model", str(starter_model), "--seed", "1", "--temperature", "0", "--max-tokens", "32",
                     "Hello,", "who are you?", basedir=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.split()) >= 10
    assert "tok/s" in result.stderr and "TTFT" in result.stderr
    assert "llama_context" not in result.stderr  # llama.cpp's log goes to the log file
    assert "llama_context" in (tmp_path / "logs" / "hermes-studio.log").read_text()


def test_chat_accepts_a_library_name_and_basedir_after_the_command(library_with_model: Path, basedir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "chat", "--basedir", str(basedir), "--model", library_with_model.stem,
         "--max-tokens", "8", "Hi"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_models_lists_the_library(library_with_model: Path, basedir: Path) -> None:
    result = run_cli("models", basedir=basedir)
    assert result.returncode == 0
    assert library_with_model.stem in result.stdout and "MB" in result.stdout
    assert "BROKEN" not in result.stdout and result.stderr == ""


def test_models_marks_a_file_that_cannot_be_loaded(library_with_model: Path, basedir: Path) -> None:
    """A broken file is not listed as a model like the others (issue 27): marked, its reason on stderr; the
    headers are read once and kept in the cache file the window shares."""
    broken = library_with_model.with_name("broken.gguf")
    broken.write_bytes(b"GGUF" + b"\0" * 4)
    result = run_cli("models", basedir=basedir)
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert "BROKEN" in lines["broken"] and "BROKEN" not in lines[library_with_model.stem]
    assert result.stderr.startswith("cannot be loaded: broken.gguf") and "GGUF" in result.stderr
    cached = json.loads((basedir / "cache" / "model-headers.json").read_text())["files"]
    assert set(cached) == {str(library_with_model), str(broken)}


def test_bad_model_path_is_one_line_and_nonzero(tmp_path: Path) -> None:
    result = run_cli("chat", "--model", str(tmp_path / "missing.gguf"), "hi", basedir=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "No model file or library model named" in result.stderr


def test_corrupt_model_is_one_line_and_nonzero(truncated_model: Path, tmp_path: Path) -> None:
    result = run_cli("chat", "--model", str(truncated_model), "hi", basedir=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("hermes-studio: truncated.gguf is truncated")
    assert "Traceback" not in result.stderr


def test_version(tmp_path: Path) -> None:
    result = run_cli("--version", basedir=tmp_path)
    assert result.stdout.strip() == f"Hermes Studio {__version__}"


def test_presets_list_show_export_import(tmp_path: Path) -> None:
    listed = run_cli("presets", "list", basedir=tmp_path)
    assert listed.returncode == 0
    assert listed.stdout.splitlines()[0].startswith("Hermes 2") and "Edward Elric" in listed.stdout
    shown = run_cli("presets", "show", "Edward Elric", basedir=tmp_path)
    assert "know nothing of the real world" in shown.stdout
    card = tmp_path / "edward.png"
    assert run_cli("presets", "export", "edward-elric", str(card), basedir=tmp_path).returncode == 0
    assert card.read_bytes().startswith(b"\x89PNG")
    imported = run_cli("presets", "import", str(card), basedir=tmp_path)
    assert imported.returncode == 0 and "Edward Elric 2" in imported.stdout
    assert "Edward Elric 2" in run_cli("presets", "list", basedir=tmp_path).stdout


def test_presets_import_of_a_bad_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"spec": "chara_card_v2"}')
    result = run_cli("presets", "import", str(bad), basedir=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == "hermes-studio: bad.json: This chara_card_v2 card has no 'data' object."


def test_chat_with_the_edward_elric_preset(starter_model: Path, tmp_path: Path) -> None:
    result = run_cli("chat", "--preset", "Edward Elric", "--model", str(starter_model), "--max-tokens", "24",
                     "--seed", "2", "Who are you?", basedir=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    unknown = run_cli("chat", "--preset", "Nobody", "--model", str(starter_model), "hi", basedir=tmp_path)
    assert unknown.returncode == 1 and "No preset named 'Nobody'" in unknown.stderr


def test_chat_save_then_continue_then_export_and_import(starter_model: Path, tmp_path: Path) -> None:
    first = run_cli("chat", "--save", "--model", str(starter_model), "--max-tokens", "12", "--seed", "1", "Hi",
                    basedir=tmp_path)  # fmt: skip
    assert first.returncode == 0 and "saved in chat 1" in first.stderr
    again = run_cli("chat", "--chat", "1", "--model", str(starter_model), "--max-tokens", "12", "More please",
                    basedir=tmp_path)  # fmt: skip
    assert again.returncode == 0, again.stderr
    listed = run_cli("chats", "list", basedir=tmp_path)
    assert "5 msgs  Hi" in listed.stdout
    openai = json.loads(run_cli("chats", "export", "1", "--format", "openai", basedir=tmp_path).stdout)
    assert [m["role"] for m in openai] == ["system", "user", "assistant", "user", "assistant"]
    assert openai[3]["content"] == "More please"
    tree = tmp_path / "chat.json"
    assert run_cli("chats", "export", "1", "--format", "json", "--output", str(tree), basedir=tmp_path).returncode == 0
    imported = run_cli("chats", "import", str(tree), basedir=tmp_path)
    assert imported.stdout.strip() == "Imported as chat 2"
    markdown = run_cli("chats", "export", "2", "--format", "md", basedir=tmp_path).stdout
    assert markdown.startswith("# Hi") and "## You\n\nMore please" in markdown
    missing = run_cli("chats", "export", "99", basedir=tmp_path)
    assert missing.returncode == 1 and missing.stderr.strip() == "hermes-studio: There is no chat 99."


def test_hub_commands_search_quants_download_models_rm(hf_env, hub, tmp_path: Path) -> None:
    env_run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "app", "--basedir", str(tmp_path), *args],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ, **hf_env},
    )  # fmt: skip
    found = env_run("search", "OpenHermes", "2", "Mistral")
    assert found.returncode == 0 and found.stdout.startswith("TheBloke/OpenHermes-2-Mistral-7B-GGUF")
    gptq = env_run("search", "OpenHermes", "--format", "gptq")
    assert "TheBloke/OpenHermes-2-Mistral-7B-GPTQ" in gptq.stdout
    quants = env_run("quants", "TheBloke/OpenHermes-2-Mistral-7B-GGUF")
    lines = quants.stdout.splitlines()
    assert lines[0] == "Fit for a 4,096-token context; KV cache 128.0 KB per token, from the model's header."
    assert lines[1].startswith("Q2_K") and any("Q4_K_M" in line for line in lines)
    assert sum("← recommended" in line for line in lines) == 1
    branches = env_run("quants", "TheBloke/OpenHermes-2-Mistral-7B-GPTQ")
    assert "not runnable by llama.cpp" in branches.stdout and "gptq-4bit-32g-actorder_True" in branches.stdout
    got = env_run("download", "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", "--quant", "Q4_1")
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip().endswith("SmolLM2-135M-Instruct.Q4_1.gguf") and "done Verified" in got.stderr
    listed = env_run("models")
    assert "SmolLM2-135M-Instruct.Q4_1" in listed.stdout
    gated = env_run("download", "meta-llama/Llama-2-7b-chat-GGUF")
    assert gated.returncode == 1 and "needs a Hugging Face token" in gated.stderr
    removed = env_run("rm", "SmolLM2-135M-Instruct.Q4_1")
    assert removed.returncode == 0 and not Path(got.stdout.strip()).exists()
    assert env_run("rm", "nothing-like-it").returncode == 1
