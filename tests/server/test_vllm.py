"""Serve with vLLM: the exact command from a repo's quantisation settings, and the managed process.

vLLM needs a GPU and is not installed here: the managed-process path runs a stand-in ``vllm`` on PATH
(a small OpenAI server on loopback, written below); the real vLLM is left for a GPU machine.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from app.core.chat.session import ChatSession, TurnSettings
from app.core.engines.remote import RemoteEngine
from app.core.engines.service import EngineService
from app.core.engines.vllm import VllmError, VllmProcess, command_text, read_quant_settings, vllm_command
from tests.server.conftest import free_port

STAND_IN = """#!PYTHON
# A stand-in for `vllm serve PATH --port N ... --served-model-name NAME`: OpenAI's API on loopback.
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
args = sys.argv[1:]
assert args[0] == "serve", args
port = int(args[args.index("--port") + 1])
name = args[args.index("--served-model-name") + 1]
class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"object": "list", "data": [{"id": name, "object": "model"}]}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_POST(self):
        json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200); self.send_header("Content-Type", "text/event-stream"); self.end_headers()
        for word in ["Served ", "by ", "vLLM."]:
            chunk = {"choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\\n\\n".encode())
        end = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}}
        self.wfile.write(f"data: {json.dumps(end)}\\n\\ndata: [DONE]\\n\\n".encode())
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


def put_stand_in_vllm_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``vllm`` executable first on PATH that serves the OpenAI API on loopback as vLLM would (no GPU needed)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "vllm"
    script.write_text(STAND_IN.replace("PYTHON", sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def snapshot(tmp_path: Path, name: str, files: dict[str, dict]) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for filename, content in files.items():
        (folder / filename).write_text(json.dumps(content))
    return folder


def test_gptq_command_from_quantize_config(tmp_path: Path) -> None:
    repo = snapshot(
        tmp_path, "Llama-2-7B-GPTQ", {"quantize_config.json": {"bits": 4, "group_size": 128, "desc_act": True}}
    )
    assert read_quant_settings(repo).describe() == "GPTQ 4-bit, group size 128, act-order"
    command = vllm_command(repo, port=8123, max_model_len=4096)
    assert command_text(command) == (
        f"vllm serve {repo} --quantization gptq --port 8123 --host 127.0.0.1 "
        "--served-model-name Llama-2-7B-GPTQ --dtype float16 --max-model-len 4096"
    )


def test_awq_command_from_config_json_and_refusals(tmp_path: Path) -> None:
    awq = snapshot(tmp_path, "m-AWQ", {"config.json": {"quantization_config": {"quant_method": "awq", "bits": 4}}})
    command = vllm_command(awq, port=9000, tensor_parallel=2, api_key="k")
    assert command[3:5] == ["--quantization", "awq"] and command[-4:] == [
        "--tensor-parallel-size",
        "2",
        "--api-key",
        "k",
    ]
    bad = snapshot(tmp_path, "m-AWQ-3bit", {"quant_config.json": {"w_bit": 3, "q_group_size": 64}})
    with pytest.raises(VllmError, match="4 bits, not 3"):
        vllm_command(bad)
    with pytest.raises(VllmError, match="not a GPTQ or AWQ"):
        vllm_command(snapshot(tmp_path, "plain", {"config.json": {}}))


def test_managed_process_with_a_stand_in_vllm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    put_stand_in_vllm_on_path(tmp_path, monkeypatch)
    repo = snapshot(tmp_path, "Tiny-GPTQ", {"quantize_config.json": {"bits": 4, "group_size": 32}})
    process = VllmProcess(vllm_command(repo, port=free_port()), tmp_path / "vllm.log")
    try:
        assert process.start(timeout=60) == ["Tiny-GPTQ"]
        service = EngineService(RemoteEngine(process.url))
        try:
            service.load("Tiny-GPTQ").result(30)
            session = ChatSession(None)
            stats = session.run(service, session.send("Hi", TurnSettings()))
            assert session.items[-1].text == "Served by vLLM." and stats.generated_tokens == 3
        finally:
            service.close()
    finally:
        process.stop()
    assert not process.running


def test_without_vllm_installed_the_start_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    repo = snapshot(tmp_path, "X-GPTQ", {"quantize_config.json": {"bits": 4, "group_size": 128}})
    with pytest.raises(VllmError, match="not installed"):
        VllmProcess(vllm_command(repo), tmp_path / "log").start()
