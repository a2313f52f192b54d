"""The Hugging Face Hub catalogue: search, repo details, quant tables, GPTQ/AWQ branches, "will it fit".

Everything goes through ``huggingface_hub`` (it honours ``HF_ENDPOINT``, ``HF_TOKEN`` and
``HF_HUB_OFFLINE``); errors become ``HubError``s with messages for people, and being offline is a
state (``HubOffline``), not a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from app.core.errors import HermesError

log = logging.getLogger(__name__)

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")  # plain HTTP + Range: resumable and cancellable by us

Format = Literal["gguf", "gptq", "awq"]
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


class HubError(HermesError):
    """The Hub could not answer (and why, for people)."""


class HubOffline(HubError):
    """No network (or HF_HUB_OFFLINE): the Discover page shows an "offline" state."""


class HubAuthError(HubError):
    """A gated or private repo: a token is needed."""


@dataclass(frozen=True)
class RepoSummary:
    id: str
    author: str
    downloads: int
    likes: int
    updated: datetime | None
    tags: tuple[str, ...] = ()

    @property
    def format(self) -> str:
        return next((f for f in FORMATS if f in self.tags or f in self.id.lower()), "other")


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


@dataclass(frozen=True)
class MachineMemory:
    ram: int
    vram: int | None = None  # None: no GPU llama.cpp can use; else the bytes a model may take on it
    gpu: str = ""  # "CUDA · NVIDIA GeForce RTX 4070", or "configured" (HERMES_STUDIO_VRAM_GB)
    unified: bool = False  # the GPU's memory is the RAM (Apple Silicon): no partial offload tier


@dataclass(frozen=True)
class Fit:
    badge: str  # "Full GPU offload", "Partial offload", "CPU only", "Too large"
    needed: int  # bytes: weights + KV cache + working buffers
    kv_cache: int = 0  # bytes of it for the KV cache
    exact: bool = False  # the KV cache from the model's own header, not estimated


def hub_endpoint(endpoint: str | None = None) -> str | None:
    """An explicit endpoint, else ``$HF_ENDPOINT`` read now (huggingface_hub reads it once, at import)."""
    return endpoint or os.environ.get("HF_ENDPOINT") or None


def _api(endpoint: str | None, token: str | None) -> Any:
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub_endpoint(endpoint), token=token or os.environ.get("HF_TOKEN") or None)


def _translate(exc: Exception, what: str) -> HubError:
    """A huggingface_hub / network exception as a message for people."""
    from huggingface_hub import errors

    name = type(exc).__name__
    if isinstance(exc, errors.OfflineModeIsEnabled):
        return HubOffline("Offline mode is on (HF_HUB_OFFLINE): the Hub cannot be searched. Your models still work.")
    if isinstance(exc, errors.GatedRepoError):
        return HubAuthError(
            f"{what}: this model needs a Hugging Face token "
            "(it is gated: accept its terms on the Hub, then set HF_TOKEN)."
        )
    if isinstance(exc, errors.RepositoryNotFoundError):
        return HubError(f"{what}: no such repository (or it is private and needs a Hugging Face token).")
    if isinstance(exc, errors.RevisionNotFoundError):
        return HubError(f"{what}: no such branch or revision.")
    if isinstance(exc, errors.EntryNotFoundError):
        return HubError(f"{what}: no such file in the repository.")
    if isinstance(exc, errors.HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status == 401:
            return HubAuthError(f"{what}: this model needs a Hugging Face token (HF_TOKEN).")
        if status == 429:
            return HubError(f"{what}: the Hub is rate-limiting requests; try again in a minute.")
        return HubError(f"{what}: the Hub answered with an error ({status or name}).")
    if "connect" in name.lower() or "timeout" in name.lower() or isinstance(exc, OSError):
        return HubOffline(f"{what}: the Hub cannot be reached ({name}). Check your connection; your models still work.")
    return HubError(f"{what}: {exc}")


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
) -> list[RepoSummary]:
    """Model repos matching ``query`` in one format, best first."""
    check_reachable(endpoint)
    api = _api(endpoint, token)
    try:
        models = api.list_models(
            search=query or None, filter=fmt if fmt in FORMATS else None, sort=SORTS.get(sort, "downloads"), limit=limit
        )
        return [
            RepoSummary(
                id=m.id,
                author=getattr(m, "author", None) or m.id.split("/")[0],
                downloads=int(getattr(m, "downloads", 0) or 0),
                likes=int(getattr(m, "likes", 0) or 0),
                updated=getattr(m, "last_modified", None),
                tags=tuple(getattr(m, "tags", None) or ()),
            )
            for m in models
        ]
    except Exception as exc:
        raise _translate(exc, "Search failed") from exc


def repo_details(
    repo_id: str,
    *,
    revision: str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    cache_dir: Path | None = None,
) -> RepoDetails:
    """Files with sizes and sha256, GGUF quants, GPTQ/AWQ branches and the model card."""
    check_reachable(endpoint)
    api = _api(endpoint, token)
    try:
        info = api.model_info(repo_id, revision=revision, files_metadata=True)
        files = tuple(
            RepoFile(s.rfilename, int(s.size or 0), s.lfs.sha256 if s.lfs else None) for s in (info.siblings or [])
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
        raise _translate(exc, f"Could not open {repo_id}") from exc
    quants = tuple(group_quants(files))
    kv = None
    if quants:  # every quant of a repo is the same model: one header says it for all
        smallest = quants[0].files[0].path
        kv = remote_kv_bytes_per_token(repo_id, smallest, revision=info.sha or revision, endpoint=api.endpoint,
                                       token=api.token)  # fmt: skip
    return RepoDetails(repo_id, info.sha or "", fmt, files, quants, branches, card, kv)


HEADER_PROBES = (256 << 10, 2 << 20, 8 << 20)  # bytes read from the start of a GGUF, growing until enough


def remote_kv_bytes_per_token(
    repo_id: str, filename: str, *, revision: str | None = None, endpoint: str | None = None, token: str | None = None
) -> int | None:
    """The KV cache's bytes per token, from the GGUF header's first bytes (Range requests), or None.

    Only as many bytes are read as the header needs (a few hundred KiB; never the weights): enough
    to see the architecture's keys, which come before the tokenizer's vocabulary.
    """
    from huggingface_hub import get_session, hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    from app.core.library.gguf_file import kv_bytes_per_token, read_header_metadata

    url = hf_hub_url(repo_id, filename, revision=revision, endpoint=hub_endpoint(endpoint))
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
    from huggingface_hub import hf_hub_download

    try:
        path = hf_hub_download(
            repo_id, "README.md", revision=revision, endpoint=endpoint, token=token, cache_dir=cache_dir
        )
        text = open(path, encoding="utf-8", errors="replace").read(200_000)  # noqa: SIM115 (one read)
    except Exception:
        return ""
    if text.startswith("---"):
        end = text.find("\n---", 3)
        if end >= 0:
            text = text[end + 4 :]
    return text.strip()


def parse_quant(filename: str) -> str | None:
    """The llama.cpp quant type in a GGUF file name (``openhermes-2-mistral-7b.Q4_K_M.gguf`` -> ``Q4_K_M``)."""
    stem = filename.rsplit("/", 1)[-1]
    matches = _QUANT.findall(stem)
    return matches[-1].upper() if matches else None


def group_quants(files: Iterable[RepoFile]) -> list[Quant]:
    """One row per quant: split GGUFs (``-00001-of-00003``) are one row; smallest first."""
    groups: dict[str, list[RepoFile]] = {}
    for file in files:
        if not file.path.lower().endswith(".gguf"):
            continue
        match = _SPLIT.match(file.path)
        key = match.group("stem") if match else file.path
        groups.setdefault(key, []).append(file)
    quants = []
    for key, members in groups.items():
        members.sort(key=lambda f: f.path)
        label = parse_quant(key + ".gguf") or key.rsplit("/", 1)[-1]
        quants.append(Quant(label, tuple(members)))
    return sorted(quants, key=lambda q: (q.size, q.label))


def machine_memory() -> MachineMemory:
    """This machine's RAM, and the memory of the GPU llama.cpp would run a model on (app.core.engines.devices).

    ``HERMES_STUDIO_VRAM_GB`` stands in for the GPU's memory (0: no GPU).
    """
    from app.core.engines.devices import list_devices, system_ram, vram_override

    try:
        report = list_devices()
    except (HermesError, OSError, ImportError) as exc:  # a broken llama.cpp install: the RAM alone
        log.warning("could not list llama.cpp's devices (%s)", exc)
        override = vram_override()
        return MachineMemory(system_ram(), override or None, "configured" if override else "")
    device = report.offload_device
    ram = report.cpu.total
    if device is None:
        return MachineMemory(ram)
    gpu = "configured" if device.configured else device.label
    return MachineMemory(ram, device.usable or None, gpu, unified=device.unified)


def estimate_fit(
    quant: Quant, memory: MachineMemory, context: int = 4096, kv_bytes_per_token: int | None = None
) -> Fit:
    """Weights + KV cache for ``context`` tokens + working buffers, against this machine's memory.

    The KV cache comes from the model's header where it was read (``RepoDetails.kv_bytes_per_token``);
    otherwise it is estimated from the parameter count (file size / bits per weight) with the ratio
    of grouped-query-attention models (Mistral 7B: 128 KiB per token in f16).
    """
    weights = quant.size
    if kv_bytes_per_token:
        kv = kv_bytes_per_token * context
    else:
        parameters = weights * 8 / (quant.bits_per_weight or 5.0)
        kv = int(parameters * 1.8e-5 * context)
    needed = int(weights * 1.05 + kv + (300 << 20))
    usable_ram = memory.ram * 0.75
    if memory.vram and needed <= memory.vram * 0.9:
        badge = "Full GPU offload"
    elif memory.vram and not memory.unified and needed <= usable_ram + memory.vram * 0.9:
        badge = "Partial offload"
    elif needed <= usable_ram:
        badge = "CPU only"
    else:
        badge = "Too large"
    return Fit(badge, needed, kv, exact=bool(kv_bytes_per_token))


def explain_fit(fit: Fit, context: int) -> str:
    """One sentence on what a quant needs, for a tooltip or the CLI."""
    from app.core.library.models import human_size

    source = "from the model's header" if fit.exact else "estimated from the parameter count"
    return (
        f"{fit.badge}: needs about {human_size(fit.needed)}, with {human_size(fit.kv_cache)} of KV cache for "
        f"{context:,} tokens ({source})."
    )


CPU_BITS_PER_WEIGHT = 5.0  # on a CPU, speed is bound by memory bandwidth: Q4_K_M class, not the largest


def recommend(
    quants: Iterable[Quant], memory: MachineMemory, context: int = 4096, kv_bytes_per_token: int | None = None
) -> Quant | None:
    """The quant to star (see ``recommendation_note`` for why).

    On a GPU: the largest quant that fits on it fully, with the KV cache. Otherwise (no GPU, or none
    fits it fully) the model runs at least partly on the CPU, where every token reads all the weights
    from RAM: the largest 4–5-bit quant (Q4_K_M class) that fits. Q4_K_M when in doubt.
    """
    quants = list(quants)
    fits = {q: estimate_fit(q, memory, context, kv_bytes_per_token).badge for q in quants}
    if memory.vram:
        full = [q for q in quants if fits[q] == "Full GPU offload"]
        if full:
            return max(full, key=lambda q: q.size)
    running = [q for q in quants if fits[q] in ("Partial offload", "CPU only")]
    modest = [q for q in running if q.bits_per_weight and q.bits_per_weight <= CPU_BITS_PER_WEIGHT]
    if modest:
        return max(modest, key=lambda q: q.size)
    return next((q for q in quants if q.label == "Q4_K_M"), None)


def recommendation_note(memory: MachineMemory, context: int = 4096) -> str:
    """Why the starred quant was chosen, for its tooltip."""
    from app.core.library.models import human_size

    if memory.vram:
        return (
            f"Starred: the largest quant that fits fully in the GPU's memory ({memory.gpu}, "
            f"{human_size(memory.vram)} usable) with a {context:,}-token KV cache. If none does, a 4–5-bit quant: "
            "the layers that stay on the CPU are limited by memory bandwidth."
        )
    return (
        "Starred: a 4–5-bit quant (Q4_K_M class) that fits in RAM. No GPU llama.cpp can use was found, and on "
        "the CPU every token reads all the weights from memory: a larger quant is slower for little gain in quality."
    )
