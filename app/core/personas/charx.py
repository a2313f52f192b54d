"""CHARX archives (Character Card V3): a zip with ``card.json`` and assets referenced as ``embeded://path``.

Archives are hostile until read: names with ``..``, absolute or drive paths, symlinks, more members or more
bytes than any real card has, and compression ratios of a zip bomb are refused before anything is written.
Sizes are measured on the bytes actually inflated (a header can lie), never trusted from the directory.
An asset that cannot be kept (an unsafe name, a missing file) is skipped and named in ``skipped``.
"""

from __future__ import annotations

import io
import json
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from app.core.personas.card_v3 import CardDocument, normalize, parse_json
from app.core.personas.cards import MAX_CARD_BYTES, CardError

MAX_ARCHIVE_BYTES = 64 << 20  # the .charx file itself
MAX_TOTAL_BYTES = 64 << 20  # everything inflated; 500 MB of assets is refused
MAX_MEMBERS = 2_000
MAX_RATIO = 200  # a text card compresses ~10x; a bomb 1000x and more
EMBEDDED = "embeded://"  # sic: the V3 spec's spelling
ALSO_EMBEDDED = "embedded://"


@dataclass
class CharxCard:
    document: CardDocument
    assets: dict[str, bytes] = field(default_factory=dict)  # archive path -> bytes, only the ones the card uses
    avatar: bytes = b""
    skipped: list[str] = field(default_factory=list)


def read_charx(raw: bytes) -> CharxCard:
    """The card, its assets and avatar from a .charx; CardError if the archive is unsafe or has no card."""
    if len(raw) > MAX_ARCHIVE_BYTES:
        raise CardError(f"This archive is {len(raw) / 1e6:.0f} MB; the limit is {MAX_ARCHIVE_BYTES >> 20} MB.")
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CardError(f"This is not a usable .charx (zip) archive: {exc}") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise CardError(f"This archive has {len(members):,} files; the limit is {MAX_MEMBERS:,}.")
        declared = sum(member.file_size for member in members)
        if declared > MAX_TOTAL_BYTES:
            raise CardError(
                f"This archive unpacks to {declared / 1e6:.0f} MB; the limit is {MAX_TOTAL_BYTES >> 20} MB. "
                "Nothing was imported."
            )
        by_name: dict[str, zipfile.ZipInfo] = {}
        skipped: list[str] = []
        for member in members:
            problem = _unsafe(member)
            if problem:
                if member.filename.strip("/") == "card.json":
                    raise CardError(f"This archive's card.json is {problem}. Nothing was imported.")
                skipped.append(f"{member.filename!r}: {problem}")
            elif not member.is_dir():
                by_name[member.filename] = member
        if "card.json" not in by_name:
            raise CardError("This archive has no card.json at its top level.")
        budget = [MAX_TOTAL_BYTES]
        document = normalize(parse_json(_read(archive, by_name["card.json"], budget, limit=MAX_CARD_BYTES)))
        card = CharxCard(document, skipped=skipped)
        for asset in document["data"].get("assets") or []:
            uri = asset["uri"]
            path = _embedded_path(uri)
            if path is None:
                continue  # ccdefault: / http(s): / data: stay as they are in the card
            found = by_name.get(path)
            if found is None:
                card.skipped.append(f"asset {uri!r}: not in the archive (or an unsafe name)")
                continue
            card.assets[path] = _read(archive, found, budget)
            if asset.get("type") == "icon" and (asset.get("name") == "main" or not card.avatar):
                card.avatar = card.assets[path]
        return card


def write_charx(document: CardDocument, assets: dict[str, bytes]) -> bytes:
    """A .charx with ``card.json`` and the assets (paths as in the card's ``embeded://`` URIs)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("card.json", json.dumps(document, ensure_ascii=False, indent=1))
        for path, data in sorted(assets.items()):
            if _safe_name(path):
                archive.writestr(path, data, compress_type=zipfile.ZIP_STORED)
    return buffer.getvalue()


def _embedded_path(uri: str) -> str | None:
    for prefix in (EMBEDDED, ALSO_EMBEDDED):
        if uri.startswith(prefix):
            return uri[len(prefix) :]
    return None


def _unsafe(member: zipfile.ZipInfo) -> str:
    """Why a member must not be read ('' if it may)."""
    mode = member.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if not _safe_name(member.filename):
        return "an unsafe path (absolute, or with '..')"
    if member.flag_bits & 0x1:
        return "encrypted"
    if member.compress_size and member.file_size / member.compress_size > MAX_RATIO and member.file_size > 1 << 20:
        return f"compressed {member.file_size // member.compress_size}:1 (a zip bomb?)"
    return ""


def _safe_name(name: str) -> bool:
    if not name or name.startswith(("/", "\\")) or "\\" in name or "\x00" in name:
        return False
    path = PurePosixPath(name)
    return ".." not in path.parts and not (path.parts and ":" in path.parts[0])


def _read(archive: zipfile.ZipFile, member: zipfile.ZipInfo, budget: list[int], limit: int = MAX_TOTAL_BYTES) -> bytes:
    """A member's bytes, reading at most what the budget allows (the inflated size, not the header's)."""
    allowed = min(limit, budget[0])
    try:
        with archive.open(member) as stream:
            data = stream.read(allowed + 1)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as exc:
        raise CardError(f"Could not read {member.filename!r} from the archive: {exc}. Nothing was imported.") from None
    if len(data) > allowed:
        raise CardError(
            f"{member.filename!r} unpacks to more than {allowed / 1e6:.0f} MB (the archive's limit is "
            f"{MAX_TOTAL_BYTES >> 20} MB). Nothing was imported."
        )
    budget[0] -= len(data)
    return data


def asset_list(document: CardDocument) -> list[dict[str, Any]]:
    assets = document["data"].get("assets")
    return list(assets) if isinstance(assets, list) else []
