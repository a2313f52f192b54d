"""A Hugging Face Hub stand-in on 127.0.0.1, for tests and benchmarks (the machines here have no internet).

A real HTTP server (two, in fact: the Hub and a "CDN" on another port, as the real Hub redirects
large files to another origin), speaking the endpoints and headers the real ``huggingface_hub``
client uses: model search with filters, sort and paging; model info with sizes and LFS sha256;
tree and refs; file resolution with ETag / X-Repo-Commit / X-Linked-Etag / X-Linked-Size /
X-Error-Code; HTTP Range. Faults can be injected: drop the connection after N bytes, stall,
corrupt one byte, serve wrong bytes throughout, truncate (a clean end of a short body), serve
slowly, or answer 401/404/429 (with ``Retry-After``)/500/503.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlparse

CHUNK = 256 << 10


@dataclass
class HubFile:
    path: str
    source: bytes | Path | None = None  # None: a "virtual" file, listed with its size ...
    size: int = 0
    sha256: str = ""
    lfs: bool = True
    header: bytes = b""  # ... whose first bytes (a GGUF header, say) can be read; zeros follow them

    @property
    def servable(self) -> bool:
        return self.source is not None or bool(self.header)

    def __post_init__(self) -> None:
        if isinstance(self.source, bytes):
            self.size = len(self.source)
            self.sha256 = hashlib.sha256(self.source).hexdigest()
        elif isinstance(self.source, Path):
            self.size = self.source.stat().st_size
            if not self.sha256:
                digest = hashlib.sha256()
                with self.source.open("rb") as handle:
                    while block := handle.read(1 << 20):
                        digest.update(block)
                self.sha256 = digest.hexdigest()
        elif not self.sha256:
            self.sha256 = hashlib.sha256(self.path.encode()).hexdigest()

    @property
    def git_oid(self) -> str:
        content = self.source if isinstance(self.source, bytes) else str(self.sha256).encode()
        return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()

    def read(self, start: int, end: int) -> bytes:
        """Bytes [start, end)."""
        if isinstance(self.source, bytes):
            return self.source[start:end]
        if isinstance(self.source, Path):
            with self.source.open("rb") as handle:
                handle.seek(start)
                return handle.read(end - start)
        if self.header:
            end = min(end, self.size)
            return self.header[start:end].ljust(max(0, end - start), b"\0")
        raise FileNotFoundError(self.path)


@dataclass
class HubRepo:
    id: str
    branches: dict[str, list[HubFile]]
    downloads: int = 0
    likes: int = 0
    last_modified: str = "2023-10-20T12:00:00.000Z"
    tags: list[str] = field(default_factory=list)
    card: str = ""
    gated: bool = False
    pipeline_tag: str = ""  # the Hub's pipeline ("feature-extraction" for an embedding model)

    def commit(self, branch: str) -> str:
        return hashlib.sha1(f"{self.id}@{branch}".encode()).hexdigest()

    def files(self, revision: str) -> list[HubFile] | None:
        for branch in self.branches:
            if revision in (branch, self.commit(branch)):
                listed = list(self.branches[branch])
                if self.card and not any(f.path == "README.md" for f in listed):
                    listed.insert(0, HubFile("README.md", self.card.encode(), lfs=False))
                return listed
        return None


@dataclass
class Fault:
    pattern: str  # fnmatch on the file path
    kind: str  # "drop", "stall", "corrupt", "wrong", "truncate", "slow", "status" or "endless" (bytes past the end)
    # API faults, on patterns "api:<path>": "status", "selflink" (an empty page linking to itself), "slow" (a body
    # at one byte per ``seconds``)
    after: int = 0  # bytes served before the fault
    status: int = 500
    error_code: str = ""
    seconds: float = 0.0  # a stall's length; a slow transfer's pause per 256 KiB
    times: int = 1  # how many requests it hits (-1: all)
    retry_after: str = ""  # a status fault's Retry-After header


class FakeHub:
    """Start with ``FakeHub().start()``; point the client at ``hub.endpoint``; ``stop()`` at the end."""

    page_size = 2  # small, so that paging is exercised

    def __init__(self) -> None:
        self.repos: dict[str, HubRepo] = {}
        self.faults: list[Fault] = []
        self.bytes_served: dict[str, int] = {}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._api = _server(self, cdn=False)
        self._cdn = _server(self, cdn=True)
        self._threads: list[threading.Thread] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._api.server_address[1]}"

    @property
    def cdn(self) -> str:
        return f"http://127.0.0.1:{self._cdn.server_address[1]}"

    def start(self) -> FakeHub:
        for server in (self._api, self._cdn):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in (self._api, self._cdn):
            server.shutdown()
            server.server_close()

    def add(self, repo: HubRepo) -> HubRepo:
        self.repos[repo.id] = repo
        return repo

    def fault(self, pattern: str, kind: str, **options: Any) -> Fault:
        fault = Fault(pattern, kind, **options)
        with self._lock:
            self.faults.append(fault)
        return fault

    def take_fault(
        self,
        path: str,
        kinds: tuple[str, ...] = ("drop", "stall", "corrupt", "wrong", "truncate", "slow", "status", "endless"),
        length: int | None = None,
    ) -> Fault | None:
        """The next fault for a request of ``path``; one that would strike after ``length`` bytes is left for later."""
        with self._lock:
            for fault in self.faults:
                if length is not None and fault.kind != "status" and length <= fault.after:
                    continue  # a short read (a header probe) passes; the fault waits for the download
                if fault.times != 0 and fault.kind in kinds and fnmatch.fnmatch(path, fault.pattern):
                    if fault.times > 0:
                        fault.times -= 1
                    return fault
        return None

    def count(self, path: str, amount: int) -> None:
        with self._lock:
            self.bytes_served[path] = self.bytes_served.get(path, 0) + amount


_SHIFTED = bytes((b + 1) % 256 for b in range(256))  # "wrong bytes": every byte of the file, changed


def _retry_after(fault: Fault) -> dict[str, str]:
    return {"Retry-After": fault.retry_after} if fault.retry_after else {}


def _server(hub: FakeHub, cdn: bool) -> ThreadingHTTPServer:
    handler = type("Handler", (_Handler,), {"hub": hub, "is_cdn": cdn})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    return server


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    is_cdn: bool
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # dispatch
    def do_HEAD(self) -> None:
        self._route(head=True)

    def do_GET(self) -> None:
        self._route(head=False)

    def _route(self, head: bool) -> None:
        url = urlparse(self.path)
        path = unquote(url.path)
        query = parse_qs(url.query)
        self.hub.requests.append((self.command, self.path))
        try:
            if self.is_cdn:
                match = re.fullmatch(r"/([^/]+/[^/]+)/([^/]+)/(.+)", path)
                if match:
                    return self._serve_file(match[1], match[2], match[3], head=head)
                return self._error(404, "EntryNotFound", "no such file")
            if self._api_fault(path):
                return None
            if path == "/api/models":
                return self._search(query)
            match = re.fullmatch(r"/api/models/([^/]+/[^/]+)/refs", path)
            if match:
                return self._refs(match.group(1))
            match = re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?", path)
            if match:
                return self._tree(*match.groups())
            match = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?", path)
            if match:
                return self._info(match.group(1), match.group(2) or "main")
            match = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
            if match:
                return self._resolve(match[1], match[2], match[3], head=head)
            return self._error(404, "", "not found")
        except (BrokenPipeError, ConnectionResetError):
            return None

    def _api_fault(self, path: str) -> bool:
        fault = self.hub.take_fault(f"api:{path}", kinds=("status", "selflink", "slow"))
        if fault is None:
            return False
        if fault.kind == "status":
            self._error(fault.status, fault.error_code, f"injected {fault.status}", _retry_after(fault))
        elif fault.kind == "selflink":
            self._json([], {"Link": f'<{self.hub.endpoint}{self.path}>; rel="next"'})
        else:  # slow: a body that trickles
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            for _ in range(1_000_000):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(fault.seconds)
        return True

    # API
    def _search(self, query: dict[str, list[str]]) -> None:
        repos = list(self.hub.repos.values())
        words = (query.get("search") or [""])[0].lower().split()
        repos = [r for r in repos if all(w in r.id.lower() for w in words)]
        for wanted in query.get("filter", []):
            for tag in wanted.split(","):
                repos = [r for r in repos if tag in r.tags]
        pipeline = (query.get("pipeline_tag") or [""])[0]
        if pipeline:
            repos = [r for r in repos if r.pipeline_tag == pipeline]
        author = (query.get("author") or [""])[0]
        if author:
            repos = [r for r in repos if r.id.split("/")[0] == author]
        sort = (query.get("sort") or ["downloads"])[0]
        key = {"downloads": lambda r: r.downloads, "likes": lambda r: r.likes}.get(sort, lambda r: r.last_modified)
        repos.sort(key=key, reverse=True)
        limit = int((query.get("limit") or ["1000"])[0])
        cursor = int((query.get("cursor") or ["0"])[0])
        page = repos[cursor : cursor + min(limit, self.hub.page_size)]
        items = [
            {
                "id": r.id,
                "modelId": r.id,
                "author": r.id.split("/")[0],
                "downloads": r.downloads,
                "likes": r.likes,
                "lastModified": r.last_modified,
                "tags": r.tags,
                "pipeline_tag": r.pipeline_tag or None,
                "private": False,
                "gated": r.gated,
            }
            for r in page
        ]
        headers = {}
        if cursor + len(page) < len(repos):
            params = {k: v[0] for k, v in query.items()}
            params["cursor"] = str(cursor + len(page))
            headers["Link"] = f'<{self.hub.endpoint}/api/models?{urlencode(params)}>; rel="next"'
        self._json(items, headers)

    def _repo(self, repo_id: str) -> HubRepo | None:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", f"Repository Not Found for url: {self.path}")
        return repo

    def _info(self, repo_id: str, revision: str) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return
        files = repo.files(revision)
        if files is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        branch = next(b for b in repo.branches if revision in (b, repo.commit(b)))
        siblings = []
        for f in files:
            sibling: dict[str, Any] = {"rfilename": f.path, "size": f.size, "blobId": f.git_oid}
            if f.lfs:
                sibling["lfs"] = {"size": f.size, "sha256": f.sha256, "pointerSize": 134}
            siblings.append(sibling)
        self._json(
            {
                "id": repo.id,
                "modelId": repo.id,
                "author": repo.id.split("/")[0],
                "sha": repo.commit(branch),
                "downloads": repo.downloads,
                "likes": repo.likes,
                "lastModified": repo.last_modified,
                "tags": repo.tags,
                "private": False,
                "gated": repo.gated,
                "siblings": siblings,
            }
        )

    def _refs(self, repo_id: str) -> None:
        repo = self._repo(repo_id)
        if repo is not None:
            branches = [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": repo.commit(b)} for b in repo.branches]
            self._json({"branches": branches, "converts": [], "tags": []})

    def _tree(self, repo_id: str, revision: str, prefix: str | None) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return
        files = repo.files(revision) or []
        entries = []
        for f in files:
            if prefix and not f.path.startswith(prefix.rstrip("/") + "/"):
                continue
            entry: dict[str, Any] = {"type": "file", "path": f.path, "size": f.size, "oid": f.git_oid}
            if f.lfs:
                entry["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": 134}
            entries.append(entry)
        self._json(entries)

    def _resolve(self, repo_id: str, revision: str, file_path: str, head: bool) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return
        fault = self.hub.take_fault(file_path, kinds=("status",))
        if fault is not None:
            return self._error(fault.status, fault.error_code, f"injected {fault.status}", _retry_after(fault))
        if repo.gated:
            return self._error(401, "GatedRepo", "Access to this model is restricted. You must be authenticated.")
        files = repo.files(revision)
        if files is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        found = next((f for f in files if f.path == file_path), None)
        if found is None:
            return self._error(404, "EntryNotFound", f"{file_path} does not exist")
        branch = next(b for b in repo.branches if revision in (b, repo.commit(b)))
        commit = repo.commit(branch)
        common = {"X-Repo-Commit": commit, "Accept-Ranges": "bytes"}
        if found.lfs:
            location = f"{self.hub.cdn}/{repo_id}/{commit}/{quote(file_path)}"
            headers = {
                **common,
                "Location": location,
                "X-Linked-Etag": f'"{found.sha256}"',
                "X-Linked-Size": str(found.size),
                "ETag": f'"{found.git_oid}"',
                "Content-Length": "0",
            }
            self.send_response(302)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            return None
        return self._send_bytes(found, {**common, "ETag": f'"{found.git_oid}"'}, head)

    # the CDN
    def _serve_file(self, repo_id: str, commit: str, file_path: str, head: bool) -> None:
        repo = self.hub.repos.get(repo_id)
        files = repo.files(commit) if repo else None
        found = next((f for f in files or [] if f.path == unquote(file_path)), None)
        if found is None or not found.servable:
            return self._error(404, "EntryNotFound", "not on the CDN")
        return self._send_bytes(found, {"ETag": f'"{found.sha256}"', "Accept-Ranges": "bytes"}, head, cdn=True)

    def _send_bytes(self, found: HubFile, headers: dict[str, str], head: bool, cdn: bool = False) -> None:
        start, end = 0, found.size
        status = 200
        ranged = self.headers.get("Range")
        if ranged:
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", ranged.strip())
            if not match or int(match.group(1)) >= max(found.size, 1):
                return self._error(416, "", "range not satisfiable", {"Content-Range": f"bytes */{found.size}"})
            start = int(match.group(1))
            end = min(found.size, int(match.group(2)) + 1) if match.group(2) else found.size
            status = 206
            headers = {**headers, "Content-Range": f"bytes {start}-{end - 1}/{found.size}"}
        fault = self.hub.take_fault(found.path, length=end - start) if (cdn and not head) else None
        if fault is not None and fault.kind == "status":
            return self._error(fault.status, fault.error_code, f"injected {fault.status}", _retry_after(fault))
        if fault is not None and fault.kind == "truncate":
            end = start + fault.after  # a body that ends cleanly, too early
        if fault is not None and fault.kind == "endless":  # no length: the body goes on until the server closes it
            self.send_response(status)
            for name, value in {**headers, "Connection": "close"}.items():
                self.send_header(name, value)
            self.end_headers()
            self.close_connection = True
            self.wfile.write(found.read(start, end))
            self.hub.count(found.path, end - start)
            for _ in range(fault.after // CHUNK):
                self.wfile.write(bytes(CHUNK))
                self.hub.count(found.path, CHUNK)
            return None
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(end - start)}.items():
            self.send_header(name, value)
        self.end_headers()
        if head:
            return None
        position = start
        while position < end:
            stop = min(end, position + CHUNK)
            if (
                fault is not None
                and fault.kind in ("drop", "stall")
                and position - start + (stop - position) > fault.after
            ):
                stop = start + fault.after
                if stop > position:
                    self.hub.count(found.path, stop - position)  # counted first: a client may act on the bytes at once
                    self.wfile.write(found.read(position, stop))
                if fault.kind == "stall":
                    time.sleep(fault.seconds)
                self.close_connection = True
                self.wfile.flush()
                self.connection.shutdown(2)
                return None
            block = found.read(position, stop)
            if fault is not None and fault.kind == "corrupt" and position <= fault.after < stop:
                offset = fault.after - position
                block = block[:offset] + bytes([block[offset] ^ 0xFF]) + block[offset + 1 :]
            if fault is not None and fault.kind == "wrong":
                block = block.translate(_SHIFTED)
            self.hub.count(found.path, len(block))
            self.wfile.write(block)
            position = stop
            if fault is not None and fault.kind == "slow":
                time.sleep(fault.seconds)
        return None

    # replies
    def _json(self, data: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        body = json.dumps({"error": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if code:
            self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


THEBLOKE_LADDER = {  # TheBloke/OpenHermes-2-Mistral-7B-GGUF, sizes as published
    "Q2_K": 3_083_098_368,
    "Q3_K_S": 3_164_564_736,
    "Q3_K_M": 3_518_985_472,
    "Q3_K_L": 3_822_024_960,
    "Q4_0": 4_108_916_992,
    "Q4_K_S": 4_140_374_272,
    "Q4_K_M": 4_368_438_528,
    "Q5_0": 4_997_716_224,
    "Q5_K_S": 4_997_716_224,
    "Q5_K_M": 5_131_409_664,
    "Q6_K": 5_942_065_408,
    "Q8_0": 7_695_857_920,
}
OPENHERMES_CARD = """---
base_model: mistralai/Mistral-7B-v0.1
license: apache-2.0
tags: [mistral, instruct, finetune, chatml, gguf]
---
# OpenHermes 2 Mistral 7B - GGUF

This repo contains GGUF format model files for Teknium's OpenHermes 2 Mistral 7B.

## Prompt template: ChatML

```
<|im_start|>system
{system_message}<|im_end|>
<|im_start|>user
{prompt}<|im_end|>
<|im_start|>assistant
```
"""


def gguf_header(metadata: dict[str, Any], tensor_count: int = 291) -> bytes:
    """The key/value part of a GGUF header (what a remote header read needs), written with the ``gguf`` package."""
    import gguf

    out = bytearray(struct.pack("<IIQQ", gguf.GGUF_MAGIC, 3, tensor_count, len(metadata)))

    def string(text: str) -> bytes:
        raw = text.encode()
        return struct.pack("<Q", len(raw)) + raw

    for key, value in metadata.items():
        out += string(key)
        if isinstance(value, str):
            out += struct.pack("<I", gguf.GGUFValueType.STRING) + string(value)
        elif isinstance(value, float):
            out += struct.pack("<If", gguf.GGUFValueType.FLOAT32, value)
        elif isinstance(value, list):  # string arrays (a vocabulary)
            out += struct.pack("<IIQ", gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.STRING, len(value))
            out += b"".join(string(item) for item in value)
        else:
            out += struct.pack("<II", gguf.GGUFValueType.UINT32, value)
    return bytes(out)


# Mistral 7B's shape, as in TheBloke's GGUF headers: 32 layers, 32 heads, 8 KV heads of 128 → 128 KiB per token.
MISTRAL_7B_HEADER = gguf_header({
    "general.architecture": "llama", "general.name": "teknium_openhermes-2-mistral-7b",
    "llama.context_length": 32768, "llama.embedding_length": 4096, "llama.block_count": 32,
    "llama.feed_forward_length": 14336, "llama.rope.dimension_count": 128, "llama.attention.head_count": 32,
    "llama.attention.head_count_kv": 8, "llama.attention.layer_norm_rms_epsilon": 1e-5,
    "llama.rope.freq_base": 10000.0, "general.file_type": 15, "tokenizer.ggml.model": "llama",
    "tokenizer.ggml.tokens": [f"<t{i}>" for i in range(32002)],
})  # fmt: skip


def standard_hub(starter_model: Path) -> FakeHub:
    """The content every test and benchmark expects: a GGUF ladder, the real starter model, split, GPTQ, AWQ."""
    hub = FakeHub()
    hub.add(HubRepo(
        "TheBloke/OpenHermes-2-Mistral-7B-GGUF",
        {"main": [HubFile("config.json", b'{"model_type": "mistral"}', lfs=False)]
         + [HubFile(f"openhermes-2-mistral-7b.{q}.gguf", None, size, header=MISTRAL_7B_HEADER)
            for q, size in THEBLOKE_LADDER.items()]},
        downloads=48_000, likes=120, tags=["gguf", "mistral", "text-generation"], card=OPENHERMES_CARD,
    ))  # fmt: skip
    hub.add(HubRepo(
        "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF",
        {"main": [HubFile(starter_model.name, starter_model)]},
        downloads=90_000, likes=30, last_modified="2024-11-01T00:00:00.000Z", tags=["gguf", "llama"],
        card="# SmolLM2 135M Instruct\n\nA tiny ChatML model.",
    ))  # fmt: skip
    hub.add(HubRepo(
        "TheBloke/Goliath-120B-GGUF",
        {"main": [HubFile(f"goliath-120b.Q4_K_M.gguf-split-{x}", None, 1) for x in "ab"]
         + [HubFile(f"goliath-120b.Q4_K_M-0000{i}-of-00003.gguf", None, 24_000_000_000) for i in (1, 2, 3)]
         + [HubFile("goliath-120b.Q2_K.gguf", None, 50_000_000_000)]},
        downloads=5_000, likes=200, last_modified="2023-11-12T00:00:00.000Z", tags=["gguf", "llama"],
    ))  # fmt: skip
    gptq_files = [
        HubFile("config.json", b'{"model_type": "mistral"}', lfs=False),
        HubFile("model.safetensors", b"\0" * 4096),
    ]
    hub.add(HubRepo(
        "TheBloke/OpenHermes-2-Mistral-7B-GPTQ",
        {"main": [*gptq_files, HubFile("quantize_config.json", b'{"bits": 4, "group_size": 128, "desc_act": true}', lfs=False)],
         "gptq-4bit-32g-actorder_True": [*gptq_files, HubFile("quantize_config.json", b'{"bits": 4, "group_size": 32, "desc_act": true}', lfs=False)],
         "gptq-8bit-128g-actorder_False": [*gptq_files, HubFile("quantize_config.json", b'{"bits": 8, "group_size": 128, "desc_act": false}', lfs=False)]},
        downloads=20_000, likes=40, tags=["gptq", "mistral", "text-generation"],
    ))  # fmt: skip
    hub.add(HubRepo(
        "TheBloke/OpenHermes-2-Mistral-7B-AWQ",
        {"main": [*gptq_files, HubFile("quant_config.json", b'{"w_bit": 4, "q_group_size": 128, "zero_point": true}', lfs=False)]},
        downloads=7_000, likes=15, tags=["awq", "mistral"],
    ))  # fmt: skip
    hub.add(HubRepo(
        "meta-llama/Llama-2-7b-chat-GGUF",
        {"main": [HubFile("llama-2-7b-chat.Q4_K_M.gguf", None, 4_080_000_000)]},
        downloads=100_000, likes=500, tags=["gguf", "llama"], gated=True,
    ))  # fmt: skip
    return hub
