"""GPTQ and AWQ made usable: the exact ``vllm serve`` command for a downloaded repo, and vLLM as a managed process.

llama.cpp cannot run GPTQ or AWQ weights; vLLM can (one GPU, or several with ``--tensor-parallel-size``).
``vllm_command`` reads the repo's quantisation settings (``quantize_config.json`` for GPTQ,
``quant_config.json`` for AWQ, or ``config.json``'s ``quantization_config``) and builds the command;
``VllmProcess`` starts it where ``vllm`` is on PATH, waits until its OpenAI API answers, and stops it.
The app then adds it as a remote engine.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.engines.remote import RemoteEngineError, list_models
from app.core.errors import HermesError

GPTQ_BITS = (2, 3, 4, 8)
AWQ_BITS = (4,)


class VllmError(HermesError):
    """A repo vLLM cannot serve as asked, or a vLLM process that failed to start."""


@dataclass(frozen=True)
class QuantSettings:
    method: str  # "gptq" or "awq"
    bits: int
    group_size: int
    desc_act: bool = False  # GPTQ act-order

    def describe(self) -> str:
        act = ", act-order" if self.desc_act else ""
        return f"{self.method.upper()} {self.bits}-bit, group size {self.group_size}{act}"


def read_quant_settings(model_dir: Path) -> QuantSettings:
    """The quantisation a GPTQ/AWQ snapshot declares; VllmError naming what is missing otherwise."""
    found: dict[str, Any] | None = None
    method = ""
    for name, implied in (("quantize_config.json", "gptq"), ("quant_config.json", "awq")):
        path = model_dir / name
        if path.is_file():
            found, method = _json(path), implied
            break
    if found is None and (model_dir / "config.json").is_file():
        found = _json(model_dir / "config.json").get("quantization_config")
    if not isinstance(found, dict):
        raise VllmError(
            f"{model_dir.name} has no quantize_config.json, quant_config.json or quantization_config in config.json: "
            "it is not a GPTQ or AWQ snapshot."
        )
    method = str(found.get("quant_method") or method).lower()
    if method not in ("gptq", "awq"):
        raise VllmError(f"{model_dir.name} is quantised with {method or 'an unknown method'}, not GPTQ or AWQ.")
    bits, group = _whole(found, ("bits", "w_bit"), 4), _whole(found, ("group_size", "q_group_size"), 128)
    allowed = GPTQ_BITS if method == "gptq" else AWQ_BITS
    if bits not in allowed:
        raise VllmError(f"vLLM serves {method.upper()} at {', '.join(map(str, allowed))} bits, not {bits}.")
    return QuantSettings(method, bits, group, bool(found.get("desc_act", False)))


def _whole(settings: dict[str, Any], names: tuple[str, ...], default: int) -> int:
    value = next((settings[name] for name in names if name in settings), default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise VllmError(f"The quantisation setting {names[0]} is {value!r}, not a whole number.")
    return value


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VllmError(f"{path.name} could not be read: {exc}") from None
    return value if isinstance(value, dict) else {}


def vllm_command(
    model_dir: Path,
    *,
    port: int = 8000,
    host: str = "127.0.0.1",
    served_name: str = "",
    max_model_len: int = 0,
    tensor_parallel: int = 1,
    api_key: str = "",
    executable: str = "vllm",
) -> list[str]:
    """``vllm serve PATH --quantization gptq|awq --port N …`` for this snapshot."""
    quant = read_quant_settings(model_dir)
    command = [
        executable, "serve", str(model_dir), "--quantization", quant.method, "--port", str(port), "--host", host,
        "--served-model-name", served_name or model_dir.name,
        "--dtype", "float16",  # the GPTQ and AWQ kernels compute in fp16
    ]  # fmt: skip
    if max_model_len:
        command += ["--max-model-len", str(max_model_len)]
    if tensor_parallel > 1:
        command += ["--tensor-parallel-size", str(tensor_parallel)]
    if api_key:
        command += ["--api-key", api_key]
    return command


def command_text(command: list[str]) -> str:
    return shlex.join(command)


def vllm_installed(executable: str = "vllm") -> bool:
    return shutil.which(executable) is not None


class VllmProcess:
    """``vllm serve`` run by the app: ``start()`` returns once ``/v1/models`` answers; ``stop()`` ends it."""

    def __init__(self, command: list[str], log_path: Path) -> None:
        self.command = command
        self.log_path = log_path
        self.port = int(command[command.index("--port") + 1])
        self.host = command[command.index("--host") + 1] if "--host" in command else "127.0.0.1"
        self.api_key = command[command.index("--api-key") + 1] if "--api-key" in command else ""
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 600.0) -> list[str]:
        """Start and wait for the API (vLLM takes minutes to load a big model); returns the served model ids."""
        if shutil.which(self.command[0]) is None:
            raise VllmError(f"{self.command[0]} is not installed here; run the command on a machine with a GPU.")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise VllmError(f"vLLM exited with code {self._process.returncode}; see {self.log_path}.")
            try:
                return list_models(self.url, self.api_key, timeout=2)
            except RemoteEngineError:
                time.sleep(0.5)
        self.stop()
        raise VllmError(f"vLLM did not answer within {timeout:.0f} s; see {self.log_path}.")

    def stop(self, timeout: float = 30.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
