"""The self-test's steps for what is more than text: an image through the vision path, documents indexed and searched.

Nothing is shipped for them: the vision step writes the tiny vision model (``tiny_vision``: random weights, the given
model's tokenizer) and two pictures; the documents step writes a PDF, a DOCX and a text file (``sample_documents``)
and reads them through the document reader's worker process, with an embedding model if the library has one (else
by keyword, and the step says so).
"""

from __future__ import annotations

import io

from app.core.engines.llama_engine import LlamaEngine
from app.core.engines.load_options import LoadOptions
from app.core.prompting.types import Sampling
from app.selftest.probe import Probe, check

GREEDY = Sampling(temperature=0.0, max_tokens=12, seed=1)
FACT = "The lighthouse keeper on Skerry Mor is called Ailsa Brodie."


def _picture(background: tuple[int, int, int], shape: tuple[int, int, int]) -> bytes:
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (96, 80), background)
    ImageDraw.Draw(picture).ellipse((10, 10, 60, 60), fill=shape)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


def vision(probe: Probe) -> str:
    """The tiny vision model with its projector, through mtmd: two pictures, two replies; images cost tokens."""
    from app.core.media.images import check_image
    from app.selftest.tiny_vision import NAME, write_projector, write_text_model

    folder = probe.scratch / "vision"
    folder.mkdir(exist_ok=True)
    model = write_text_model(folder / f"{NAME}.gguf", probe.model)
    write_projector(folder / f"mmproj-{NAME}.gguf")
    engine = LlamaEngine()
    engine.load(model, LoadOptions(context_size=1024))
    try:
        check(engine.loaded is not None and engine.loaded.vision, "the projector beside the model was not loaded")
        red = check_image(_picture((220, 30, 30), (255, 255, 0)), "red.png")
        blue = check_image(_picture((20, 40, 200), (0, 200, 0)), "blue.png")
        replies, tokens = [], 0
        for picture in (red, blue):
            generation = engine.stream([{"role": "user", "content": "What is this?", "images": [picture]}], GREEDY)
            replies.append(generation.text())
            tokens = generation.stats.image_tokens
        check(tokens > 0, "the image cost no prompt tokens (it did not reach the model)")
        check(replies[0] != replies[1], f"two pictures got the same reply: {replies[0]!r}")
    finally:
        engine.unload()
    return f"{tokens} tokens per image; two pictures, two replies"


def documents(probe: Probe) -> str:
    """A PDF, a DOCX and a text file read by the reader's worker process, indexed, searched, found with locations."""
    from app.core.engines.llama_embedder import LlamaEmbedder, find_embedding_model
    from app.core.knowledge.base import KnowledgeBase
    from app.selftest.sample_documents import docx_bytes, pdf_bytes

    folder = probe.scratch / "documents"
    folder.mkdir(exist_ok=True)
    (folder / "harbour.pdf").write_bytes(pdf_bytes([["Harbour report"], ["Tides rose all week.", FACT]]))
    (folder / "memo.docx").write_bytes(docx_bytes([("Heading1", "Budget"), ("", "The budget is twelve crowns.")]))
    (folder / "notes.txt").write_text("Shopping: rope, lamp oil, bread.\n", encoding="utf-8")
    embedding_model = find_embedding_model([probe.model.parent])
    embedder = LlamaEmbedder(embedding_model) if embedding_model is not None else None
    base = KnowledgeBase(probe.scratch / "knowledge.sqlite3", embedder)
    try:
        report = base.add("self-test", [folder])
        failed = [f"{done.path.name}: {done.message}" for done in report.outcomes if done.status == "failed"]
        check(not failed, "; ".join(failed))
        check(len(report.outcomes) == 3, f"3 files were given, {len(report.outcomes)} read")
        hits = base.search("self-test", "Who keeps the lighthouse?", top=3)
        check(bool(hits) and hits[0].file == "harbour.pdf", f"the PDF's passage was not found first: {hits[:1]}")
        check("2" in hits[0].where.rsplit(",", 1)[-1], f"the passage's page (2) was lost: {hits[0].where!r}")
        budget = base.search("self-test", "budget crowns", top=1, mode="keyword")
        check(bool(budget) and budget[0].file == "memo.docx", "the DOCX's passage was not found")
    finally:
        base.close()
        if embedder is not None:
            embedder.close()
    how = f"hybrid with {embedding_model.name}" if embedding_model is not None else "keyword only (no embedding model)"
    return f"3 files indexed, {hits[0].where} found first; {how}"
