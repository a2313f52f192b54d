"""Images through the real engine: the tiny vision model (tests/data/vision) with its projector, through mtmd."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.engines.interface import VisionUnavailable
from app.core.engines.llama_engine import LlamaEngine
from app.core.engines.load_options import LoadOptions
from app.core.errors import ModelLoadError
from app.core.media.images import CheckedImage, check_image
from app.core.prompting.prompt_formats import ChatMessage
from app.core.prompting.types import Sampling
from tests.vision_data import TINY_PROJECTOR, TINY_VISION, blue_field, maker, pair_folder, red_sun

GREEDY = Sampling(temperature=0.0, max_tokens=12, seed=1)


def ask(*images: CheckedImage, text: str = "What is in the picture?") -> list[ChatMessage]:
    return [{"role": "user", "content": text, "images": list(images)}]


@pytest.fixture(scope="module")
def engine() -> Iterator[LlamaEngine]:
    engine = LlamaEngine()
    engine.load(TINY_VISION, LoadOptions(context_size=1024))
    yield engine
    engine.unload()


def test_the_projector_beside_the_model_is_loaded_with_it(engine: LlamaEngine) -> None:
    assert engine.loaded is not None
    assert engine.loaded.projector == TINY_PROJECTOR
    assert engine.loaded.vision and engine.capabilities.vision
    assert engine.loaded.notes == ()


def test_two_pictures_get_two_replies_and_one_picture_the_same_reply(engine: LlamaEngine) -> None:
    red, blue = check_image(red_sun(), "red.png"), check_image(blue_field(), "blue.png")
    first = engine.stream(ask(red), GREEDY).text()
    other = engine.stream(ask(blue), GREEDY).text()
    again = engine.stream(ask(red), GREEDY).text()
    assert first and other
    assert first != other
    assert again == first


def test_an_image_costs_prompt_tokens(engine: LlamaEngine) -> None:
    plain = engine.stream(ask(), GREEDY)
    plain.text()
    one = engine.stream(ask(check_image(red_sun())), GREEDY)
    one.text()
    two = engine.stream(ask(check_image(red_sun()), check_image(blue_field())), GREEDY)
    two.text()
    assert plain.stats.image_tokens == 0
    assert one.stats.image_tokens == 16  # 64 px / patch 8 = 8 × 8 patches, pooled 2 × 2
    cost = one.stats.prompt_tokens - plain.stats.prompt_tokens  # its 16 and mtmd's <start_of_image>…<end_of_image>
    assert cost > 16
    assert two.stats.prompt_tokens == plain.stats.prompt_tokens + 2 * cost
    assert two.stats.image_tokens == 32
    assert one.stats.generated_tokens > 0 and one.stats.finish_reason in ("stop", "length")
    assert 0 < one.stats.image_encode_s < one.stats.ttft_s


def test_the_same_picture_again_is_not_encoded_again(engine: LlamaEngine) -> None:
    messages = ask(check_image(blue_field()))
    first = engine.stream(messages, GREEDY)
    first_text = first.text()
    follow = [*messages, {"role": "assistant", "content": first_text}, {"role": "user", "content": "And then?"}]
    second = engine.stream(follow, GREEDY)
    second.text()
    assert second.stats.image_tokens == 16
    assert second.stats.image_encode_s == 0  # the context still held the picture: only the new text was read
    assert engine.stream(messages, GREEDY).text() == first_text


def test_a_text_turn_after_a_picture_does_not_reuse_the_picture_as_text(engine: LlamaEngine) -> None:
    engine.stream(ask(check_image(red_sun())), GREEDY).text()
    after = engine.stream(ask(), GREEDY).text()
    fresh = LlamaEngine()
    fresh.load(TINY_VISION, LoadOptions(context_size=1024, projector="none"))
    try:
        assert fresh.stream(ask(), GREEDY).text() == after
    finally:
        fresh.unload()


def test_a_text_only_model_refuses_an_image_with_a_clear_message(starter_model: Path) -> None:
    engine = LlamaEngine()
    engine.load(starter_model, LoadOptions(context_size=512))
    try:
        assert not engine.capabilities.vision and engine.loaded is not None and not engine.loaded.vision
        with pytest.raises(VisionUnavailable, match="text-only model: it cannot read images"):
            engine.stream(ask(check_image(red_sun())), GREEDY)
        assert engine.stream(ask(), Sampling(temperature=0, max_tokens=4)).text()  # still usable
    finally:
        engine.unload()


def test_projector_none_loads_the_model_text_only(tmp_path: Path) -> None:
    engine = LlamaEngine()
    engine.load(pair_folder(tmp_path), LoadOptions(context_size=512, projector="none"))
    try:
        assert not engine.capabilities.vision
        with pytest.raises(VisionUnavailable):
            engine.stream(ask(check_image(red_sun())), GREEDY)
    finally:
        engine.unload()


@pytest.mark.expect_log("does not belong to tiny-vision|is a projector for audio only")
@pytest.mark.parametrize("kind", ["mismatched", "audio"])
def test_a_projector_that_cannot_serve_the_model_is_said_before_llama_cpp_sees_it(tmp_path: Path, kind: str) -> None:
    script = maker()
    projector = tmp_path / "made" / f"mmproj-{kind}.gguf"
    projector.parent.mkdir()
    if kind == "mismatched":
        script.write_projector(projector, text_width=32)
        expected = "does not belong to tiny-vision.gguf: it makes embeddings of width 32, the model reads 64"
    else:
        script.write_projector(projector, vision=False, audio=True)
        expected = "is a projector for audio only: it cannot read images"
    model = pair_folder(tmp_path / "models", projector)
    engine = LlamaEngine()
    try:
        loaded = engine.load(model, LoadOptions(context_size=512))  # found beside it: a note, the model text-only
        assert not loaded.vision and not engine.capabilities.vision
        assert any(expected in note for note in loaded.notes)
        with pytest.raises(ModelLoadError, match=expected.split(":")[0]):  # named explicitly: an error
            engine.load(model, LoadOptions(context_size=512, projector=str(projector)))
    finally:
        engine.unload()


def test_the_bytes_mtmd_decodes_and_the_pixels_pillow_decodes_read_the_same(engine: LlamaEngine) -> None:
    """A plain PNG goes to mtmd as bytes (its own decoder); a lossless WebP of the same picture as Pillow's pixels."""
    from PIL import Image

    picture = Image.open(io.BytesIO(red_sun()))
    buffer = io.BytesIO()
    picture.save(buffer, "WEBP", lossless=True)
    as_png, as_webp = check_image(red_sun(), "sun.png"), check_image(buffer.getvalue(), "sun.webp")
    assert as_png.plain and not as_webp.plain
    assert engine.stream(ask(as_webp), GREEDY).text() == engine.stream(ask(as_png), GREEDY).text()


def test_the_projector_counts_in_the_fit_and_the_gpu_budget(tmp_path: Path) -> None:
    from app.core.engines.devices import Device, DeviceReport
    from app.core.engines.llama_vision import projector_bytes
    from app.core.engines.offload import GiB, margin, plan_offload, too_large
    from app.core.library.gguf_file import read_gguf

    info = read_gguf(pair_folder(tmp_path))
    beside = projector_bytes(info, LoadOptions())
    assert beside == 2 * TINY_PROJECTOR.stat().st_size
    assert projector_bytes(info, LoadOptions(projector="none")) == 0
    cpu = Device("CPU", "test CPU", "CPU", "CPU", 32 * GiB, 32 * GiB)
    card = Device("CUDA0", "test GPU", "GPU", "CUDA", 1 * GiB, 1 * GiB)
    report = DeviceReport(("CPU", "CUDA"), (cpu, card), gpu_offload=True)
    budget = card.usable - margin(card)
    assert plan_offload(info, LoadOptions(), report).on_gpu == 3  # 2 layers and the output: room to spare
    crowded = plan_offload(info, LoadOptions(), report, beside=budget)  # a projector that fills the GPU
    assert crowded.layers == 0 and "not one layer fits" in crowded.reason
    small = DeviceReport(("CPU",), (Device("CPU", "test CPU", "CPU", "CPU", 6_000_000, 6_000_000),), gpu_offload=False)
    assert too_large(info, LoadOptions(context_size=256), small) == ""
    assert "its vision projector" in too_large(info, LoadOptions(context_size=256), small, beside)
