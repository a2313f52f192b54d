"""Knowledge collections on real SQLite with the real embedding model (all-MiniLM-L6-v2 as a GGUF, llama.cpp):
add, unchanged files skipped, re-index on change, another model re-embeds (never mixes), keyword search alone,
files changed or deleted while indexed, cancel, kill -9 mid-indexing, two processes on one collection."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core.engines.llama_embedder import LlamaEmbedder
from app.core.knowledge.base import CancelToken, KnowledgeBase, KnowledgeError, Progress
from tests.conftest import REPO


@pytest.fixture(scope="module")
def embedder(starter_embedding_model: Path):
    with LlamaEmbedder(starter_embedding_model) as model:
        yield model


def _docs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "birds.md").write_text("# Birds\n\nThe grey heron fishes in the shallows at dawn.\n")
    (folder / "stones.txt").write_text("Basalt columns form when lava cools slowly.\n")
    return folder


def _consistent(db_path: Path) -> None:
    """Nothing half-indexed: every file's passages, words and vectors are all there, or none are."""
    db = sqlite3.connect(db_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for file_id, chunks, model in db.execute("SELECT id, chunks, model FROM files"):
            stored = db.execute("SELECT count(*) FROM chunks WHERE file_id = ?", (file_id,)).fetchone()[0]
            vectors = db.execute(
                "SELECT count(*) FROM vectors v JOIN chunks c ON c.id = v.chunk_id WHERE c.file_id = ?", (file_id,)
            ).fetchone()[0]
            assert stored == chunks and vectors == (chunks if model else 0)
        words = db.execute("SELECT count(*) FROM chunk_text").fetchone()[0]
        assert words == db.execute("SELECT count(*) FROM chunks").fetchone()[0]
    finally:
        db.close()


def test_add_search_reindex_and_remove(tmp_path: Path, embedder: LlamaEmbedder) -> None:
    folder = _docs(tmp_path / "docs")
    base = KnowledgeBase(tmp_path / "k.sqlite3", embedder)
    stages: list[str] = []
    report = base.add("nature", [folder], progress=lambda p: stages.append(p.stage))
    assert [(o.path.name, o.status) for o in report.outcomes] == [("birds.md", "added"), ("stones.txt", "added")]
    assert {"reading", "embedding", "writing", "done"} <= set(stages)
    hit = base.search("nature", "Where does the heron hunt for fish?", top=1)[0]
    assert (hit.file, hit.where) == ("birds.md", "birds.md, lines 1–3")
    assert hit.vector_rank == 1

    again = base.add("nature", [folder, folder / "birds.md"])  # the same files again (and one named twice)
    assert [o.status for o in again.outcomes] == ["unchanged", "unchanged"]

    time.sleep(0.01)
    (folder / "stones.txt").write_text("Granite cools deep underground into large crystals.\n")
    changed = base.add("nature", [folder])
    assert [o.status for o in changed.outcomes] == ["unchanged", "updated"]
    texts = [h.text for h in base.search("nature", "how does rock form from cooling", top=5)]
    assert any("Granite" in t for t in texts) and not any("Basalt" in t for t in texts)

    os.utime(folder / "birds.md")  # touched, same content: read again, not embedded again
    assert [o.status for o in base.add("nature", [folder / "birds.md"]).outcomes] == ["unchanged"]

    assert base.remove("nature", folder / "stones.txt") == 1
    assert [f.name for f in base.files("nature")] == ["birds.md"]
    with pytest.raises(KnowledgeError, match="is not in the collection"):
        base.remove("nature", folder / "stones.txt")
    assert base.remove("nature") == 1
    with pytest.raises(KnowledgeError, match="There is no collection named 'nature'"):
        base.search("nature", "heron")
    _consistent(tmp_path / "k.sqlite3")
    base.close()


def test_keyword_only_then_embedded_then_another_model_reembeds(
    tmp_path: Path, embedder: LlamaEmbedder, starter_embedding_model: Path
) -> None:
    folder = _docs(tmp_path / "docs")
    db = tmp_path / "k.sqlite3"
    plain = KnowledgeBase(db)  # no embedding model: passages searchable by their words
    report = plain.add("nature", [folder])
    assert report.keyword_only and report.count("added") == 2
    assert plain.search("nature", "heron")[0].file == "birds.md"
    assert plain.collections()[0].models == ("",)
    plain.close()

    embedded = KnowledgeBase(db, embedder)
    assert [o.status for o in embedded.add("nature", [folder]).outcomes] == ["re-embedded", "re-embedded"]
    assert embedded.search("nature", "a wading bird catching fish", top=1, mode="vector")[0].file == "birds.md"
    embedded.close()

    other_file = tmp_path / "models" / "minilm-copy.gguf"  # another model, as the index knows models: by file
    other_file.parent.mkdir()
    other_file.write_bytes(starter_embedding_model.read_bytes() + b"\0" * 32)
    with LlamaEmbedder(other_file) as other:
        base = KnowledgeBase(db, other)
        assert base.search("nature", "a wading bird catching fish", mode="vector") == []  # never compared across
        assert [o.status for o in base.add("nature", [folder]).outcomes] == ["re-embedded", "re-embedded"]
        assert base.search("nature", "a wading bird catching fish", top=1, mode="vector")[0].file == "birds.md"
        models = sqlite3.connect(db).execute("SELECT DISTINCT model FROM vectors").fetchall()
        assert models == [(other.name,)]
        base.close()
    _consistent(db)


def test_files_changed_or_deleted_while_indexed_are_not_written(tmp_path: Path, embedder: LlamaEmbedder) -> None:
    folder = _docs(tmp_path / "docs")
    base = KnowledgeBase(tmp_path / "k.sqlite3", embedder)
    base.add("nature", [folder])

    def meddle(progress: Progress) -> None:
        if progress.stage == "embedding" and progress.path.name == "birds.md":
            progress.path.write_text("# Birds\n\nSwifts sleep on the wing.\n")  # changed mid-way
        if progress.stage == "embedding" and progress.path.name == "stones.txt":
            progress.path.unlink()

    (folder / "birds.md").write_text("# Birds\n\nOwls hunt at night by sound.\n")
    (folder / "stones.txt").write_text("Flint breaks with sharp edges.\n")
    report = base.add("nature", [folder], progress=meddle)
    assert [(o.status, o.message) for o in report.outcomes] == [
        ("failed", "birds.md changed while it was being indexed; add it again."),
        ("failed", "stones.txt was deleted while it was being indexed; add it again."),
    ]
    texts = " ".join(h.text for h in base.search("nature", "heron basalt owls flint swifts", top=5, mode="keyword"))
    assert "heron" in texts and "Basalt" in texts  # what was indexed before is kept
    assert "Owls" not in texts and "Flint" not in texts and "Swifts" not in texts
    base.close()
    _consistent(tmp_path / "k.sqlite3")


def test_cancel_keeps_what_was_indexed(tmp_path: Path, embedder: LlamaEmbedder) -> None:
    folder = _docs(tmp_path / "docs")
    (folder / "more.txt").write_text("Lichens grow on the north side of stones.\n")
    token = CancelToken()
    base = KnowledgeBase(tmp_path / "k.sqlite3", embedder)

    def cancel_after_first(progress: Progress) -> None:
        if progress.stage == "done":
            token.cancel()

    report = base.add("nature", [folder], progress=cancel_after_first, cancel=token)
    assert [o.status for o in report.outcomes] == ["added", "cancelled", "cancelled"]
    assert [f.name for f in base.files("nature")] == ["birds.md"]
    base.close()
    _consistent(tmp_path / "k.sqlite3")


def _cli(basedir: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "app", "knowledge", *args, "--basedir", str(basedir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )  # fmt: skip


def _many(folder: Path, count: int, word: str) -> Path:
    folder.mkdir(parents=True)
    for n in range(count):
        (folder / f"{word}-{n:03}.txt").write_text(
            "\n\n".join(f"{word} note {n}, paragraph {p}: " + "lorem ipsum " * 40 for p in range(12))
        )
    return folder


def test_kill_9_during_indexing_leaves_nothing_half_indexed(tmp_path: Path) -> None:
    basedir = tmp_path / "home"
    first = _many(tmp_path / "first", 3, "alpha")
    assert _cli(basedir, "add", "notes", str(first)).wait(timeout=300) == 0
    process = _cli(basedir, "add", "notes", str(_many(tmp_path / "second", 200, "beta")))
    assert process.stderr is not None
    seen = 0
    for line in process.stderr:  # killed in the middle, while it writes one document after another
        seen += "passages" in line
        if seen == 5:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    db = basedir / "data" / "knowledge.sqlite3"
    _consistent(db)
    names = [row[0] for row in sqlite3.connect(db).execute("SELECT name FROM files ORDER BY name")]
    assert names[:3] == ["alpha-000.txt", "alpha-001.txt", "alpha-002.txt"] and 3 + 5 <= len(names) < 203
    again = _cli(basedir, "add", "notes", str(tmp_path / "second"))  # carries on: the rest is added
    assert again.wait(timeout=600) == 0, again.stderr.read() if again.stderr else ""
    _consistent(db)


def test_two_processes_index_one_collection_at_once(tmp_path: Path) -> None:
    basedir = tmp_path / "home"
    one, two = _many(tmp_path / "one", 40, "gamma"), _many(tmp_path / "two", 40, "delta")
    shared = one / "gamma-000.txt"
    processes = [_cli(basedir, "add", "notes", str(one)), _cli(basedir, "add", "notes", str(two), str(shared))]
    for process in processes:
        _out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
    db = basedir / "data" / "knowledge.sqlite3"
    _consistent(db)
    assert sqlite3.connect(db).execute("SELECT count(*) FROM files").fetchone()[0] == 80


VECTOR_CHECK = """
import sys, tempfile
from pathlib import Path
import numpy as np
from app.core.knowledge.chunking import Chunk
from app.core.knowledge.index import KnowledgeIndex, NewFile
from app.core.knowledge.search import Searcher, to_blob
index = KnowledgeIndex(Path(tempfile.mkdtemp()) / "k.sqlite3")
collection = index.collection_id("v", create=True)
rng = np.random.default_rng(2)
vectors = rng.standard_normal((300, 384)).astype(np.float32)
passages = [Chunk(f"passage {i}", {"line": i + 1}, 3) for i in range(300)]
index.write_file(collection, NewFile("/x.txt", "x.txt", "text", "0", 0, 0, 0, "", passages,
                                     [to_blob(v) for v in vectors], "m"))
query = rng.standard_normal(384).tolist()
native, plain = Searcher(index), Searcher(index, _sqlite_vec=False)
assert native.vector_engine == "sqlite-vec", native.vector_engine
assert native.nearest([collection], query, "m", limit=10) == plain.nearest([collection], query, "m", limit=10)
print("agree")
"""


def _python_with_extensions() -> str | None:
    """This interpreter if its SQLite loads extensions, else another of the same version that does (the venv's
    packages are importable from it): the sqlite-vec path is checked wherever the machine has one."""
    import shutil

    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    found = [shutil.which(version), shutil.which("python3"), f"/usr/bin/{version}", f"/usr/local/bin/{version}"]
    candidates = [sys.executable, *(path for path in found if path and os.path.exists(path))]
    probe = "import sqlite3, sys; sqlite3.connect(':memory:').enable_load_extension(True); print(sys.version_info[:2])"
    for python in dict.fromkeys(candidates):
        done = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False)
        if done.returncode == 0 and done.stdout.strip() == str(tuple(sys.version_info[:2])):
            return python
    return None


def test_sqlite_vec_and_numpy_rank_vectors_alike() -> None:
    import sysconfig

    python = _python_with_extensions()
    if python is None:
        pytest.skip("no Python here whose SQLite loads extensions (search uses numpy; said in the log)")
    paths = os.pathsep.join([str(REPO), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    done = subprocess.run([python, "-c", VECTOR_CHECK], capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": paths}, cwd=REPO, timeout=300)  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == "agree", done.stderr


def test_collections_are_made_renamed_and_reindexed_for_the_knowledge_page(
    tmp_path: Path, embedder: LlamaEmbedder
) -> None:
    """What the window's Knowledge page asks of the core: an empty collection, a rename, each file's state, a
    re-index (changed content read again, a touched file kept by its hash, a deleted file forgotten), a passage."""
    base = KnowledgeBase(tmp_path / "k.sqlite3", embedder)
    base.create("Notes")
    with pytest.raises(KnowledgeError, match="already a collection named 'Notes'"):
        base.create("Notes ")
    base.create("Other")
    base.rename("Notes", "Field notes")
    with pytest.raises(KnowledgeError, match="already a collection named 'Other'"):
        base.rename("Field notes", "Other")
    with pytest.raises(KnowledgeError, match="needs a name"):
        base.rename("Field notes", "  ")
    assert [(c.name, c.files) for c in base.collections()] == [("Field notes", 0), ("Other", 0)]

    folder = _docs(tmp_path / "docs")
    (folder / "tides.txt").write_text("Spring tides follow the new and the full moon.\n")
    assert base.add("Field notes", [folder]).count("added") == 3
    assert {r.name: s for r, s in base.file_states("Field notes")} == dict.fromkeys(
        ["birds.md", "stones.txt", "tides.txt"], "indexed"
    )
    (folder / "birds.md").write_text("# Birds\n\nThe little egret wades in the salt marsh at noon.\n")
    stones = folder / "stones.txt"
    os.utime(stones, ns=(stones.stat().st_atime_ns, stones.stat().st_mtime_ns + 5_000_000_000))  # same bytes
    (folder / "tides.txt").unlink()
    assert {r.name: s for r, s in base.file_states("Field notes")} == {
        "birds.md": "changed", "stones.txt": "changed", "tides.txt": "missing",
    }  # fmt: skip
    report = base.reindex("Field notes")
    assert {o.path.name: o.status for o in report.outcomes} == {
        "tides.txt": "removed", "birds.md": "updated", "stones.txt": "unchanged",
    }  # fmt: skip
    assert {s for _r, s in base.file_states("Field notes")} == {"indexed"}
    hit = base.search("Field notes", "egret salt marsh", top=1)[0]
    assert hit.file == "birds.md"
    passage = base.passage(hit.chunk_id)
    assert passage is not None and "little egret" in passage.text and passage.where == hit.where
    assert passage.collection == "Field notes"
    base.remove("Field notes", folder / "birds.md")
    assert base.passage(hit.chunk_id) is None
    base.close()


def test_keyword_search_of_one_collection_is_not_crowded_out_by_another(tmp_path: Path) -> None:
    """BM25 ranks in FTS5 first and filters by collection after: a small collection whose passage ranks below
    hundreds of another collection's still finds it (the ranking falls back to the joined rows)."""
    crowd = tmp_path / "crowd"
    crowd.mkdir()
    for n in range(300):
        (crowd / f"heron{n:03}.txt").write_text("heron heron heron wades " * 3 + f"pond {n}\n", encoding="utf-8")
    lone = tmp_path / "lone.txt"
    lone.write_text("A long note about harbours, boats and tides, where a heron is seen once.\n" * 3)
    base = KnowledgeBase(tmp_path / "k.sqlite3")  # keywords only
    assert base.add("crowd", [crowd]).count("added") == 300
    assert base.add("lone", [lone]).count("added") == 1
    hits = base.search("lone", "heron", top=3, mode="keyword")
    assert [hit.file for hit in hits] == ["lone.txt"]
    assert len(base.search("crowd", "heron", top=60, mode="keyword")) == 50  # the candidates of one list
    assert {hit.collection for hit in base.search(["crowd", "lone"], "heron", top=5, mode="keyword")} == {"crowd"}
    base.close()
