"""Chatting with documents, end to end with the real engines: hybrid retrieval on facts no model knows (hit@3 by
mode), a cited answer saved in the history and in every export, the CLI's knowledge commands and chat --attach."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.chat.session import ChatSession, TurnSettings
from app.core.engines.llama_embedder import LlamaEmbedder
from app.core.engines.service import EngineService
from app.core.history import exchange
from app.core.history.store import ChatStore
from app.core.knowledge.base import KnowledgeBase
from app.core.knowledge.grounding import ground
from app.core.prompting.parts import CitationPart
from app.core.prompting.types import Sampling
from app.selftest.sample_documents import pdf_bytes
from tests.conftest import REPO
from tests.knowledge_corpus import FACTS, FILLER, hit_at_3, write_corpus


@pytest.fixture(scope="module")
def island(tmp_path_factory: pytest.TempPathFactory, starter_embedding_model: Path):
    folder = tmp_path_factory.mktemp("island")
    with LlamaEmbedder(starter_embedding_model) as embedder:
        base = KnowledgeBase(folder / "knowledge.sqlite3", embedder)
        report = base.add("island", write_corpus(folder / "docs"))
        assert report.count("added") == 4, report.outcomes
        yield base
        base.close()


def test_hybrid_retrieval_hit_at_3(island: KnowledgeBase) -> None:
    figures = {
        (mode, kind): hit_at_3(lambda question, mode=mode: island.search("island", question, top=3, mode=mode), kind)
        for mode in ("keyword", "vector", "hybrid")
        for kind in ("keyword", "paraphrase")
    }
    print("hit@3", {f"{mode}/{kind}": round(value, 2) for (mode, kind), value in figures.items()})
    assert figures["keyword", "keyword"] >= 0.9  # the rare words find their passage
    assert figures["keyword", "paraphrase"] <= 0.5  # other words: BM25 alone misses most
    assert figures["vector", "paraphrase"] >= 0.8
    assert figures["hybrid", "keyword"] >= 0.9 and figures["hybrid", "paraphrase"] >= 0.8
    assert figures["hybrid", "paraphrase"] >= figures["keyword", "paraphrase"] + 0.3


def test_every_format_is_cited_with_its_location(island: KnowledgeBase) -> None:
    where = {fact.answer: island.search("island", fact.keyword, top=1)[0].where for fact in FACTS[::3]}
    assert where["Edda Quillon"].startswith("notes.md, lines ")
    assert where["Copper Hall"].startswith("council.pdf, p")  # a page per paragraph in this PDF
    assert where["four silver pennies"].startswith("guide.docx, ¶ ")
    assert where["1911"].startswith("history.txt, lines ")


def test_a_cited_answer_is_saved_and_exported(
    tmp_path: Path, island: KnowledgeBase, service: EngineService, starter_embedding_model: Path
) -> None:
    attached = tmp_path / "memo.pdf"
    attached.write_bytes(pdf_bytes([["Memo: the harbour fee is twelve crowns."]]))
    grounding = ground(
        "What does the lighthouse keeper do, and what is the harbour fee?",
        base=island,
        collections=["island"],
        attachments=[attached],
        embedder=island.embedder,
        top=2,
    )
    assert [s.label for s in grounding.sources][:1] == ["[1] memo.pdf"]  # short: in whole
    assert any("Edda Quillon" in s.text for s in grounding.sources[1:])
    store = ChatStore(tmp_path / "chats.sqlite3")
    session = ChatSession(store)
    turn = TurnSettings(system_prompt="You answer briefly.", model="starter", sampling=Sampling(max_tokens=24, seed=1))
    request = session.send(
        "What does the lighthouse keeper do, and what is the harbour fee?", turn, grounding=grounding
    )
    prompt = request.messages[-1]["content"]
    assert prompt.startswith("Answer the question from the sources below.") and "[1] memo.pdf\nMemo:" in prompt
    assert prompt.endswith("Question: What does the lighthouse keeper do, and what is the harbour fee?")
    session.run(service, request)
    reply = store.active_path(session.chat_id or 0)[-1]
    assert reply.role == "assistant" and reply.content
    assert [c.label for c in reply.citations] == [s.label for s in grounding.sources]
    assert isinstance(reply.citations[1], CitationPart) and reply.citations[1].collection == "island"
    question = store.active_path(session.chat_id or 0)[-2]
    assert question.content == "What does the lighthouse keeper do, and what is the harbour fee?"  # as typed
    assert [(d.name, d.mode) for d in question.documents] == [("memo.pdf", "whole"), ("island", "collection")]

    chat_id = session.chat_id or 0
    markdown = exchange.export_markdown(store, chat_id)
    assert (
        "**Sources**" in markdown and "- [1] memo.pdf" in markdown and "*With: memo.pdf (1 pages), island*" in markdown
    )
    openai = exchange.export_openai(store, chat_id)
    memo = "Memo: the harbour fee is twelve crowns."
    assert openai[-1]["citations"][0] == {
        "index": 1,
        "file": "memo.pdf",
        "location": "",
        "collection": "",
        "excerpt": memo,
    }
    copy = exchange.import_tree(store, json.loads(json.dumps(exchange.export_tree(store, chat_id))))
    assert store.active_path(copy)[-1].citations == reply.citations

    reopened = ChatSession(store)
    reopened.open(chat_id)
    assert reopened.items[-1].citations == reply.citations and reopened.items[-2].documents == question.documents
    again = session.regenerate(turn)  # a new version answers from the same sources
    assert again.messages[-1]["content"] == prompt
    session.run(service, again)
    assert store.active_path(chat_id)[-1].citations == reply.citations

    # reopened in a fresh session (the app started again): a regenerate still answers from the same sources
    store.close()
    store = ChatStore(tmp_path / "chats.sqlite3")
    later = ChatSession(store)
    later.open(chat_id)
    assert later.items[-1].citations == reply.citations
    once_more = later.regenerate(turn)
    assert once_more.messages[-1]["content"] == prompt  # the sources before the question, as first sent
    assert later.items[-1].citations == reply.citations  # shown under the new version while it streams
    later.run(service, once_more)
    newest = store.active_path(chat_id)[-1]
    assert newest.sibling_count == 3 and newest.citations == reply.citations
    assert "Answer the question" not in exchange.export_markdown(store, chat_id)  # the sources stay out of exports
    store.close()


def _run(basedir: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HERMES_STUDIO_BASEDIR": str(basedir)}
    return subprocess.run(
        [sys.executable, "-m", "app", *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout,
        check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_knowledge_commands_and_chat_attach(tmp_path: Path, starter_model: Path, starter_embedding_model: Path) -> None:
    basedir = tmp_path / "home"
    models = basedir / "data" / "models"
    models.mkdir(parents=True)
    (models / starter_model.name).symlink_to(starter_model)
    (models / starter_embedding_model.name).symlink_to(starter_embedding_model)
    docs = write_corpus(tmp_path / "docs")
    (tmp_path / "docs" / "photo.png").write_bytes(b"\x89PNG")

    added = _run(basedir, "knowledge", "add", "island", str(tmp_path / "docs"), str(tmp_path / "docs" / "photo.png"))
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "island: 4 added (12 new passages)"
    assert "skipped: photo.png: not a document type" in added.stderr
    listed = _run(basedir, "knowledge", "list")
    assert listed.stdout.split()[:5] == ["island", "4", "files", "12", "passages"]
    assert "all-MiniLM-L6-v2.F16.gguf" in listed.stdout

    question = "On which days is mail shipped off to the continent?"
    found = _run(basedir, "knowledge", "search", "island", question, "--top", "2", "--json")
    hits = json.loads(found.stdout)["hits"]
    assert len(hits) == 2 and {"file", "path", "location", "where", "score", "text"} <= set(hits[0])
    mail = next(hit for hit in hits if "Mondays and Thursdays" in hit["text"])
    assert mail["file"] == "history.txt" and mail["where"].startswith("history.txt, lines ")

    long = tmp_path / "long.txt"
    long.write_text("\n\n".join([*(FILLER * 4), FACTS[11].text, *FILLER]))  # ~3,000 tokens: too long to go whole
    chat = _run(
        basedir, "chat", "--model", starter_model.name, "--knowledge", "island", "--attach", str(long),
        "--max-tokens", "16", "--seed", "3", "--context-size", "1024", "--save", "How tall is the Weatherglass Tower?",
    )  # fmt: skip
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.strip()
    sources = chat.stderr.split("Sources:\n", 1)[1].splitlines()
    assert sources[0].startswith("[1] long.txt, line")  # long: its passages were retrieved
    assert any(line.endswith("(collection island)") and "history.txt" in line for line in sources)
    exported = _run(basedir, "chats", "export", "1", "--format", "openai")
    assert json.loads(exported.stdout)[-1]["citations"][0]["file"] == "long.txt"

    gone = _run(basedir, "knowledge", "remove", "island", str(docs[0]))
    assert gone.returncode == 0 and "Removed" in gone.stdout
    assert _run(basedir, "knowledge", "list", "island").stdout.count("passages") == 3
    missing = _run(basedir, "knowledge", "search", "nothing", "x")
    assert missing.returncode == 1 and "There is no collection named 'nothing'" in missing.stderr
    photo = str(tmp_path / "docs" / "photo.png")
    bad = _run(basedir, "chat", "--model", starter_model.name, "--attach", photo, "--max-tokens", "4", "hi")
    assert bad.returncode == 1 and "None of the attached documents could be read" in bad.stderr
    assert "warning: photo.png: not a document type that is read" in bad.stderr
