"""`serve` announces itself for the window's status bar; a stale announcement is recognised and removed."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from app.core import server_beacon


def test_an_announced_server_is_found_while_it_listens(tmp_path: Path) -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        url = f"http://127.0.0.1:{listening.getsockname()[1]}/v1"
        path = server_beacon.announce(tmp_path, url)
        assert path.name == f"{os.getpid()}.json"
        found = server_beacon.running(tmp_path)
        assert [(beacon.pid, beacon.url) for beacon in found] == [(os.getpid(), url)]
    assert server_beacon.running(tmp_path) == [] and not path.exists()  # it stopped listening: stale, removed
    server_beacon.withdraw(path)  # gone already: nothing to do


def test_damaged_announcements_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "1.json").write_text("{not json")
    (tmp_path / "2.json").write_text(json.dumps({"pid": "x", "url": 3}))
    assert server_beacon.running(tmp_path) == []
    assert server_beacon.running(tmp_path / "missing") == []
