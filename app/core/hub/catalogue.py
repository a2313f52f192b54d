"""The Hugging Face Hub catalogue: search, repo details, quant tables, GPTQ/AWQ branches, "will it fit".

Everything goes through ``huggingface_hub`` (it honours ``HF_ENDPOINT``, ``HF_TOKEN`` and
``HF_HUB_OFFLINE``); errors become ``HubError``s with messages for people, and being offline is a
state (``HubOffline``), not a traceback.
"""

from __future__ import annotations

import json
import logging
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from app.core.hub.connection import (
    HubAuthError,
    HubError,
    HubOffline,
    configure_hub_environment,
    hub_api,
    hub_endpoint,
    translate_error,
)
from app.core.hub.fit import (
    CPU_BITS_PER_WEIGHT,
    Fit,
    MachineMemory,
    estimate_fit,
    explain_fit,
    machine_memory,
    recommend,
    recommendation_note,
)
from app.core.library.projector import choose_projector, is_projector_name

log = logging.getLogger(__name__)


__all__ = [
    "CPU_BITS_PER_WEIGHT",
    "Fit",
    "HubAuthError",
    "HubError",
    "HubOffline",
    "MachineMemory",
    "configure_hub_environment",
    "estimate_fit",
    "explain_fit",
    "hub_endpoint",
    "machine_memory",
    "recommend",
    "recommendation_note",
]  # fmt: skip  (fit and connection are re-exported: callers keep writing hub.estimate_fit)

Format = Literal["gguf", "gptq", "awq"]
VISION_TAGS = ("image-text-to-text", "visual-question-answering", "image-to-text", "vision")
EMBEDDING_TAGS = ("feature-extraction", "sentence-similarity")  # the Hub's pipelines of embedding models
FORMATS: tuple[Format, ...] = ("gguf", "gptq", "awq")
SORTS: dict[str, str] = {"downloads": "downloads", "likes": "likes", "updated": "last_modified"}

# Nominal bits per weight of llama.cpp's quant types (llama.cpp's quantize documentation, 7B models).
BITS_PER_WEIGHT: dict[str, float] = {
    "IQ1_S": 1.56, "IQ1_M": 1.75, "IQ2_XXS": 2.06, "IQ2_XS": 2.31, "IQ2_S": 2.5, "IQ2_M": 2.7, "Q2_K": 2.63,
    "Q2_K_S": 2.6, "IQ3_XXS": 3.06, "IQ3_XS": 3.3, "IQ3_S": 3.44, "IQ3_M": 3.66, "Q3_K_S": 3.5, "Q3_K_M": 3.91,
    "Q3_K_L": 4.27, "IQ4_XS": 4.25, "IQ4_NL": 4.5, "Q4_0": 4.55, "Q4_1": 5.0, "Q4_K_S": 4.58, "Q4_K_M": 4.85,
    "Q5_0": 5.54, "Q5_1": 6.0, "Q5_K_S": 5.54, "Q5_K_M": 5.69, "Q6_K": 6.59, "Q8_0": 8.5, "BF16": 16.0,
    "F16": 16.0, "FP16": 16.0, "F32": 32.0,
}  # fmt: skip
_QUANT = re.compile(
    r"(?<![A-Za-z0-9])("
    + "|".join(sorted(map(re.escape, BITS_PER_WEIGHT), key=len, reverse=True))
    + r")(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_SPLIT = re.compile(r"^(?P<stem>.+)-(?P<part>\d{5})-of-(?P<total>\d{5})\.gguf$", re.IGNORECASE)


@dataclass(frozen=True)
class RepoSummary:
    id: str
    author: str
    downloads: int
    likes: int
    updated: datetime | None
    tags: tuple[str, ...] = ()
    pipeline: str = ""  # the Hub's pipeline tag ("text-generation", "feature-extraction"…)

    @property
    def embedding(self) -> bool:
        """An embedding model by the Hub's pipeline (what the Knowledge page and ``/v1/embeddings`` load)."""
        return self.pipeline in EMBEDDING_TAGS or any(tag in EMBEDDING_TAGS for tag in self.tags)

    @property
    def format(self) -> str:
        return next((f for f in FORMATS if f in self.tags or f in self.id.lower()), "other")

    @property
    def vision(self) -> bool:
        """The Hub tags it as a vision model (its pipeline takes images); its quants list says for sure."""
        return any(tag in VISION_TAGS for tag in self.tags)


@dataclass(frozen=True)
class RepoFile:
    path: str
    size: int
    sha256: str | None  # the LFS sha256, when the Hub has one


@dataclass(frozen=True)
class Quant:
    """One downloadable GGUF quant: a single file, or the parts of a split file."""

    label: str  # "Q4_K_M", or the file name when no quant type is recognised
    files: tuple[RepoFile, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def bits_per_weight(self) -> float | None:
        return BITS_PER_WEIGHT.get(self.label.upper())

    @property
    def name(self) -> str:
        first = self.files[0].path
        match = _SPLIT.match(first)
        return f"{match.group('stem')}.gguf ({len(self.files)} parts)" if match else first


@dataclass(frozen=True)
class Branch:
    name: str
    commit: str
    settings: str  # "4-bit, group size 32, act-order" for GPTQ; "" when unknown


@dataclass(frozen=True)
class RepoDetails:
    id: str
    sha: str
    format: str  # "gguf", "gptq", "awq" or "other"
    files: tuple[RepoFile, ...]
    quants: tuple[Quant, ...]
    branches: tuple[Branch, ...] = ()
    card: str = ""
    kv_bytes_per_token: int | None = None  # read from a GGUF's header on the Hub; None: estimated
    projectors: tuple[RepoFile, ...] = ()  # vision projectors (mmproj*.gguf): the repo's models can see

    @property
    def vision(self) -> bool:
        return bool(self.projectors)

    def projector_for(self, quant: Quant, name: str = "") -> RepoFile | None:
        """The projector to download with ``quant``: the one named, else one in the quant's folder (the one sharing
        most of its name; F16/BF16 first); None when the repo has none."""
        if name:
            return next((p for p in self.projectors if name in (p.path, p.path.rsplit("/", 1)[-1])), None)
        folder = quant.files[0].path.rpartition("/")[0]
        near = [p for p in self.projectors if p.path.rpartition("/")[0] == folder] or list(self.projectors)
        chosen = choose_projector(quant.files[0].path, [p.path for p in near])
        return next((p for p in near if p.path == chosen), None)

    @property
    def runnable(self) -> bool:
        return self.format == "gguf"

    @property
    def note(self) -> str:
        if self.format in ("gptq", "awq"):
            return (
                f"{self.format.upper()} needs a GPU backend — not runnable by llama.cpp. Download it for other tools."
            )
        return ""


def check_reachable(endpoint: str | None = None, timeout: float = 3.0) -> None:
    """Fail fast with HubOffline when the Hub cannot be reached (the client itself retries for ~20 s)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        raise HubOffline("Offline mode is on (HF_HUB_OFFLINE): the Hub cannot be searched. Your models still work.")
    url = urlparse(hub_endpoint(endpoint) or constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname or "", port), timeout=timeout).close()
    except OSError as exc:
        raise HubOffline(
            f"The Hub ({url.hostname}) cannot be reached: {exc.strerror or exc}. Check your connection; "
            "your models still work."
        ) from None


def search(
    query: str,
    *,
    fmt: str = "gguf",
    sort: str = "downloads",
    limit: int = 50,
    endpoint: str | None = None,
    token: str | None = None,
    kind: str = "",
) -> list[RepoSummary]:
    """Model repos matching ``query`` in one format, best first; ``kind`` "embedding": only embedding models (the
    Hub's ``feature-extraction`` and ``sentence-similarity`` pipelines, asked for one after the other, merged)."""
    from app.core.hub.bounds import bounded

    check_reachable(endpoint)
    api = hub_api(endpoint, token)
    pipelines: tuple[str | None, ...] = EMBEDDING_TAGS if kind == "embedding" else (None,)
    found: dict[str, RepoSummary] = {}
    try:
        with bounded("Search"):
            for pipeline in pipelines:
                models = api.list_models(
                    search=query or None,
                    filter=fmt if fmt in FORMATS else None,
                    pipeline_tag=pipeline,
                    sort=SORTS.get(sort, "downloads"),
                    limit=limit,
                )
                for summary in _summaries(models):
                    found.setdefault(summary.id, summary)
    except Exception as exc:
        raise translate_error(exc, "Search failed") from exc
    results = list(found.values())
    if len(pipelines) > 1:  # two lists, each best first: merged by the same order
        order = {"likes": lambda r: -r.likes, "updated": lambda r: -(r.updated.timestamp() if r.updated else 0)}
        results.sort(key=order.get(sort, lambda r: -r.downloads))
    return results[:limit]


def _summaries(models: Iterable[Any]) -> list[RepoSummary]:
    return [
        RepoSummary(
            id=m.id,
            author=getattr(m, "author", None) or m.id.split("/")[0],
            downloads=int(getattr(m, "downloads", 0) or 0),
            likes=int(getattr(m, "likes", 0) or 0),
            updated=getattr(m, "last_modified", None),
            tags=tuple(getattr(m, "tags", None) or ()),
            pipeline=str(getattr(m, "pipeline_tag", None) or ""),
        )
        for m in models
    ]


def repo_details(
    repo_id: str,
    *,
    revision: str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    cache_dir: Path | None = None,
) -> RepoDetails:
    """Files with sizes and sha256, GGUF quants, GPTQ/AWQ branches and the model card."""
    from app.core.hub.bounds import bounded

    check_reachable(endpoint)
    api = hub_api(endpoint, token)
    with bounded(f"Could not open {repo_id}"):
        return _repo_details(api, repo_id, revision, cache_dir)


def _repo_details(api: Any, repo_id: str, revision: str | None, cache_dir: Path | None) -> RepoDetails:
    try:
        info = api.model_info(repo_id, revision=revision, files_metadata=True)
        files = tuple(
            RepoFile(s.rfilename, int(s.size or 0), _sha256(s.lfs.sha256) if s.lfs else None)
            for s in (info.siblings or [])
        )
        tags = tuple(info.tags or ())
        fmt = _format_of(repo_id, tags, files)
        branches: tuple[Branch, ...] = ()
        if fmt in ("gptq", "awq"):
            refs = api.list_repo_refs(repo_id)
            branches = tuple(
                Branch(b.name, b.target_commit, _branch_settings(api, repo_id, b.name, fmt, cache_dir))
                for b in refs.branches
            )
        has_card = any(f.path == "README.md" for f in files)
        card = _card(repo_id, revision, api.endpoint, api.token, cache_dir) if has_card else ""
    except HubError:
        raise
    except Exception as exc:
        raise translate_error(exc, f"Could not open {repo_id}") from exc
    quants = tuple(group_quants(files))
    projectors = tuple(f for f in files if is_projector_name(f.path.rsplit("/", 1)[-1]))
    kv = None
    if quants:  # every quant of a repo is the same model: one header says it for all
        smallest = quants[0].files[0].path
        kv = remote_kv_bytes_per_token(repo_id, smallest, revision=info.sha or revision, endpoint=api.endpoint,
                                       token=api.token)  # fmt: skip
    return RepoDetails(repo_id, info.sha or "", fmt, files, quants, branches, card, kv, projectors)


HEADER_PROBES = (256 << 10, 2 << 20, 8 << 20)  # bytes read from the start of a GGUF, growing until enough
HEADER_SECONDS = 30.0  # all the probes of one header, together
MAX_CARD = 256 << 10  # bytes of a model card (README) read: the page shows the start


def remote_kv_bytes_per_token(
    repo_id: str, filename: str, *, revision: str | None = None, endpoint: str | None = None, token: str | None = None
) -> int | None:
    """The KV cache's bytes per token, from the GGUF header's first bytes (Range requests), or None.

    Only as many bytes are read as the header needs (a few hundred KiB; never the weights): enough
    to see the architecture's keys, which come before the tokenizer's vocabulary.
    """
    from huggingface_hub import hf_hub_url

    from app.core.hub.bounds import bounded

    url = hf_hub_url(repo_id, filename, revision=revision, endpoint=hub_endpoint(endpoint))
    with bounded(f"The header of {filename}", HEADER_SECONDS, max_body=HEADER_PROBES[-1] + (1 << 20)):
        return _probe_header(url, repo_id, filename, token)


def _probe_header(url: str, repo_id: str, filename: str, token: str | None) -> int | None:
    from huggingface_hub import get_session
    from huggingface_hub.utils import build_hf_headers

    from app.core.library.gguf_file import kv_bytes_per_token, read_header_metadata

    for size in HEADER_PROBES:
        headers = {**build_hf_headers(token=token), "Range": f"bytes=0-{size - 1}"}
        try:
            data = bytearray()
            with get_session().stream("GET", url, headers=headers, follow_redirects=True, timeout=10.0) as response:
                if response.status_code not in (200, 206):
                    return None
                for block in response.iter_bytes():  # a server that ignores Range is cut off here
                    data += block
                    if len(data) >= size:
                        break
            metadata, complete = read_header_metadata(bytes(data[:size]), filename)
        except Exception as exc:  # the estimate stands in; a header is a nicety, not a requirement
            log.info("could not read the header of %s/%s: %s", repo_id, filename, exc)
            return None
        past_architecture = complete or any(key.startswith("tokenizer.") for key in metadata)
        if past_architecture or len(data) < size:
            return kv_bytes_per_token(metadata) if past_architecture else None
    return None


def _format_of(repo_id: str, tags: tuple[str, ...], files: Iterable[RepoFile]) -> str:
    names = [f.path.lower() for f in files]
    if any(n.endswith(".gguf") for n in names):
        return "gguf"
    lowered = repo_id.lower()
    if "gptq" in tags or "gptq" in lowered or "quantize_config.json" in names:
        return "gptq"
    if "awq" in tags or "awq" in lowered or "quant_config.json" in names:
        return "awq"
    return "other"


def _branch_settings(api: Any, repo_id: str, branch: str, fmt: str, cache_dir: Path | None) -> str:
    """Read a GPTQ/AWQ branch's quantisation settings from its config (or its name)."""
    from huggingface_hub import hf_hub_download

    name = "quantize_config.json" if fmt == "gptq" else "quant_config.json"
    try:
        path = hf_hub_download(
            repo_id, name, revision=branch, endpoint=api.endpoint, token=api.token, cache_dir=cache_dir
        )
        config = json.loads(open(path, encoding="utf-8").read())  # noqa: SIM115 (tiny file)
    except Exception:
        config = {}
    bits = config.get("bits") or config.get("w_bit")
    group = config.get("group_size") or config.get("q_group_size")
    parts = []
    if bits:
        parts.append(f"{bits}-bit")
    elif (match := re.search(r"(\d+)bit", branch)) is not None:
        parts.append(f"{match.group(1)}-bit")
    if group:
        parts.append(f"group size {group}" if group != -1 else "no grouping")
    elif (match := re.search(r"(\d+)g", branch)) is not None:
        parts.append(f"group size {match.group(1)}")
    act = config.get("desc_act")
    if act is None and "actorder_" in branch:
        act = branch.endswith("True")
    if act is not None:
        parts.append("act-order" if act else "no act-order")
    return ", ".join(parts)


def _card(repo_id: str, revision: str | None, endpoint: str | None, token: str | None, cache_dir: Path | None) -> str:
    """The model card's first ``MAX_CARD`` bytes, read straight from the Hub (an endless README is cut there)."""
    from huggingface_hub import get_session, hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    url = hf_hub_url(repo_id, "README.md", revision=revision, endpoint=endpoint)
    headers = {**build_hf_headers(token=token), "Range": f"bytes=0-{MAX_CARD - 1}"}
    data = bytearray()
    try:
        with get_session().stream("GET", url, headers=headers, follow_redirects=True, timeout=10.0) as response:
            if response.status_code not in (200, 206):
                return ""
            for block in response.iter_bytes():
                data += block
                if len(data) >= MAX_CARD:
                    break
    except Exception as exc:
        log.info("could not read the model card of %s: %s", repo_id, exc)
        return ""
    text = bytes(data[:MAX_CARD]).decode("utf-8", errors="replace")
    if text.startswith("---"):
        end = text.find("\n---", 3)
        if end >= 0:
            text = text[end + 4 :]
    return text.strip()


def _sha256(value: object) -> str | None:
    """A file's sha256 as the Hub states it, if it is one (a hostile Hub may send a number or junk)."""
    return value.lower() if isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F]{64}", value) else None


def parse_quant(filename: str) -> str | None:
    """The llama.cpp quant type in a GGUF file name (``openhermes-2-mistral-7b.Q4_K_M.gguf`` -> ``Q4_K_M``)."""
    stem = filename.rsplit("/", 1)[-1]
    matches = _QUANT.findall(stem)
    return matches[-1].upper() if matches else None


def group_quants(files: Iterable[RepoFile]) -> list[Quant]:
    """One row per quant: split GGUFs (``-00001-of-00003``) are one row; smallest first."""
    groups: dict[str, list[RepoFile]] = {}
    for file in files:
        if not file.path.lower().endswith(".gguf") or is_projector_name(file.path.rsplit("/", 1)[-1]):
            continue  # a vision projector is downloaded with a quant, never listed as one
        match = _SPLIT.match(file.path)
        key = match.group("stem") if match else file.path
        groups.setdefault(key, []).append(file)
    quants = []
    for key, members in groups.items():
        members.sort(key=lambda f: f.path)
        label = parse_quant(key + ".gguf") or key.rsplit("/", 1)[-1]
        quants.append(Quant(label, tuple(members)))
    return sorted(quants, key=lambda q: (q.size, q.label))
