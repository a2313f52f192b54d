"""Images into a llama.cpp context: llama-cpp-python's binding of libmtmd (``llama_cpp.mtmd_cpp``), in one place.

The projector (``mmproj-*.gguf``) is opened beside a loaded ``Llama`` (``Projector.open``): on the GPU when the
model's layers are (the load options decide), with the model's threads and flash-attention choice. A prompt is the
rendered chat text with one media marker per image plus the images' pixels (``media.images.decode_rgb``); mtmd
splits it into chunks (text tokens, image tokens), preprocesses each image as its projector wants (resize, pad,
normalise, slices), and counts the tokens each image costs (``VisionPrompt.n_tokens``).

``VisionPrompt.evaluate`` reads the chunks into the context. What the context already holds is kept: the prompt is
compared, position by position, with the keys of what was read before (text tokens, and for an image its hash at
each of its positions), and only what differs is evaluated, cut back to the start of an image when the difference
falls inside one. Image positions hold -1 in ``Llama._input_ids``, which no token equals: a later text-only
prompt reuses the context only up to the first image, and ``create_completion``'s own prefix match (given the
positions as they are) finds the whole prompt in the cache and evaluates only its last token.

Each image's time is split into encoding (the projector) and decoding (the model reading its embeddings), for the
stats and ``bench/vision.py``.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.engines.interface import VisionUnavailable
from app.core.engines.llama_adapter import import_llama_cpp
from app.core.engines.load_options import LoadOptions
from app.core.errors import HermesError, ModelFileError, ModelLoadError
from app.core.library.gguf_file import GGUFInfo
from app.core.library.projector import find_projector, pair_problem, read_projector
from app.core.media.images import DecodedImage, decode_rgb
from app.core.prompting.media import images_in
from app.core.prompting.prompt_formats import ChatMessage

if TYPE_CHECKING:
    from llama_cpp import Llama

log = logging.getLogger("app.core.engines.llama_engine")

_TEXT, _IMAGE = 0, 1  # MTMD_INPUT_CHUNK_TYPE_TEXT, _IMAGE
Key = int | str  # a text position's token, or an image position's "<sha256>:<index>"
Pixels = dict[str, DecodedImage | bytes]  # an image's hash -> its pixels, or its bytes for mtmd's own decoder


def _mtmd() -> Any:
    import_llama_cpp()  # the log routed and the backends loaded first
    from llama_cpp import mtmd_cpp

    if not getattr(_mtmd, "routed", False):
        callback = import_llama_cpp.log_callback  # type: ignore[attr-defined]
        mtmd_cpp.mtmd_log_set(callback, None)  # mtmd's own lines ("image decoded in …") to the llama.cpp logger
        mtmd_cpp.mtmd_helper_log_set(callback, None)
        _mtmd.routed = True  # type: ignore[attr-defined]
    return mtmd_cpp


def default_marker() -> str:
    return str(_mtmd().mtmd_default_marker().decode("utf-8"))


@dataclass
class ImageTiming:
    """Where an image's time went: the projector (encode) and the model reading its embeddings (decode)."""

    encode_s: float = 0.0
    decode_s: float = 0.0
    images: int = 0
    image_tokens: int = 0


class Projector:
    """An open mtmd context: one projector beside one loaded model."""

    def __init__(self, context: Any, path: Path, on_gpu: bool) -> None:
        self._context = context
        self.path = path
        self.on_gpu = on_gpu
        self.held: list[Key] = []  # what the context holds, position by position, after the last image prompt

    @classmethod
    def open(cls, llama: Llama, path: Path, *, use_gpu: bool, threads: int, flash_attn: bool) -> Projector:
        """Open ``path`` for ``llama``'s model; ModelLoadError with mtmd's reason when it cannot."""
        mtmd = _mtmd()
        bindings = import_llama_cpp()
        params = mtmd.mtmd_context_params_default()
        params.use_gpu = use_gpu
        params.print_timings = False
        params.n_threads = threads
        params.flash_attn_type = (
            bindings.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn else bindings.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        with _native_lines() as lines:
            context = mtmd.mtmd_init_from_file(str(path).encode(), llama._model.model, params)
        if not context:
            said = next((line for line in lines if "mismatch" in line or "error" in line.lower()), "")
            raise ModelLoadError(f"The projector {path.name} could not be opened" + (f": {said}" if said else "."))
        if not mtmd.mtmd_support_vision(context):
            mtmd.mtmd_free(context)
            raise ModelLoadError(f"The projector {path.name} has no vision encoder (it is for audio): images "
                                 "cannot be read with it.")  # fmt: skip
        return cls(context, path, use_gpu)

    def close(self) -> None:
        if self._context:
            _mtmd().mtmd_free(self._context)
            self._context = None
        self.held = []

    def prompt(
        self, text: str, images: Sequence[tuple[str, DecodedImage | bytes]], *, add_special: bool = True
    ) -> VisionPrompt:
        """``text`` with one media marker per image (in order), tokenized with the images' tokens; free it after.
        An image is its pixels, or the bytes of a checked plain image (mtmd's own decoder reads them)."""
        mtmd = _mtmd()
        bitmaps = []
        chunks = None
        try:
            for sha, image in images:
                if isinstance(image, bytes):
                    buffer = (ctypes.c_uint8 * len(image)).from_buffer_copy(image)
                    bitmap = mtmd.mtmd_helper_bitmap_init_from_buf(self._context, buffer, len(image), False)
                else:
                    pixels = (ctypes.c_uint8 * len(image.rgb)).from_buffer_copy(image.rgb)
                    bitmap = mtmd.mtmd_bitmap_init(image.width, image.height, pixels)
                if not bitmap:
                    raise HermesError("llama.cpp could not take the image's pixels.")
                bitmaps.append(bitmap)
                mtmd.mtmd_bitmap_set_id(bitmap, sha.encode())
            encoded = text.encode("utf-8")
            text_input = mtmd.mtmd_input_text()
            text_input.text, text_input.text_len = encoded, len(encoded)
            text_input.add_special, text_input.parse_special = add_special, True
            chunks = mtmd.mtmd_input_chunks_init()
            array = (mtmd.mtmd_bitmap_p_ctypes * max(1, len(bitmaps)))(*bitmaps)
            result = mtmd.mtmd_tokenize(self._context, chunks, ctypes.byref(text_input), array, len(bitmaps))
            if result == 1:
                raise HermesError("The prompt's image markers do not match its images.")
            if result != 0:
                raise HermesError(f"llama.cpp could not preprocess the image (mtmd error {result}).")
            prompt = VisionPrompt(self, chunks)
            chunks = None
            return prompt
        finally:
            if chunks:
                mtmd.mtmd_input_chunks_free(chunks)
            for bitmap in bitmaps:
                mtmd.mtmd_bitmap_free(bitmap)


@dataclass
class _Chunk:
    kind: int
    handle: Any
    tokens: list[int] = field(default_factory=list)  # a text chunk's
    n_tokens: int = 0  # what it costs (an image: its tokens)
    n_pos: int = 0  # the positions it takes in the context (fewer than its tokens with M-RoPE)
    key: str = ""  # an image chunk's id (the image's hash)

    def positions(self) -> list[Key]:
        if self.kind == _TEXT:
            return list(self.tokens)
        return [f"{self.key}:{i}" for i in range(self.n_pos)]


class VisionPrompt:
    """A tokenized prompt with images; ``evaluate`` reads it into the context; ``free`` when done."""

    def __init__(self, projector: Projector, chunks: Any) -> None:
        self._projector = projector
        self._chunks_handle = chunks
        mtmd = _mtmd()
        self.chunks: list[_Chunk] = []
        for index in range(mtmd.mtmd_input_chunks_size(chunks)):
            handle = mtmd.mtmd_input_chunks_get(chunks, index)
            kind = mtmd.mtmd_input_chunk_get_type(handle)
            if kind == _TEXT:
                count = ctypes.c_size_t()
                pointer = mtmd.mtmd_input_chunk_get_tokens_text(handle, ctypes.byref(count))
                tokens = [pointer[i] for i in range(count.value)]
                self.chunks.append(_Chunk(kind, handle, tokens, len(tokens), len(tokens)))
            else:
                identity = mtmd.mtmd_input_chunk_get_id(handle) or b""
                n_tokens = int(mtmd.mtmd_input_chunk_get_n_tokens(handle))
                n_pos = int(mtmd.mtmd_input_chunk_get_n_pos(handle))
                self.chunks.append(_Chunk(kind, handle, [], n_tokens, n_pos, identity.decode("utf-8", "replace")))
        self.n_tokens = sum(chunk.n_tokens for chunk in self.chunks)  # what the prompt costs
        self.n_pos = sum(chunk.n_pos for chunk in self.chunks)  # the positions it fills
        self.image_tokens = sum(chunk.n_tokens for chunk in self.chunks if chunk.kind != _TEXT)

    def free(self) -> None:
        if self._chunks_handle:
            _mtmd().mtmd_input_chunks_free(self._chunks_handle)
            self._chunks_handle = None

    def keys(self) -> list[Key]:
        return [key for chunk in self.chunks for key in chunk.positions()]

    def evaluate(
        self,
        llama: Llama,
        should_stop: Callable[[], bool],
        on_progress: Callable[[int, int], None] | None,
        timing: ImageTiming,
    ) -> list[int] | None:
        """Read the prompt into the context (reusing what it holds); the token list for ``create_completion``
        (image positions as -1), or None if Stop came first. The last position is left for it to evaluate."""
        mtmd, bindings = _mtmd(), import_llama_cpp()
        if not self.chunks or self.chunks[-1].kind != _TEXT:
            raise HermesError("A prompt must end with text after its images.")
        held = self._projector.held if self._projector.held else [int(t) for t in llama._input_ids]
        keys = self.keys()
        reuse = 0
        for have, want in zip(held[: llama.n_tokens], keys[:-1], strict=False):
            if have != want:
                break
            reuse += 1
        position, start = 0, 0
        for chunk in self.chunks:  # never inside an image: back to its start
            if chunk.kind != _TEXT and position < reuse < position + chunk.n_pos:
                reuse = position
            position += chunk.n_pos
        total, end = self.n_pos, self.n_pos - 1
        self._projector.held = []  # until this prompt is in, the context holds something in between
        llama.n_tokens = reuse
        llama._ctx.kv_cache_seq_rm(-1, reuse, -1)
        for chunk in self.chunks:
            chunk_end = start + chunk.n_pos
            if chunk_end <= reuse:
                start = chunk_end
                continue
            if chunk.kind == _TEXT:
                skip = max(0, llama.n_tokens - start)
                wanted = chunk.tokens[skip : max(skip, end - start)]
                for offset in range(0, len(wanted), llama.n_batch):
                    llama.eval(wanted[offset : offset + llama.n_batch])
                    if should_stop():
                        return None
            else:
                new_past = bindings.llama_pos(0)
                began = time.perf_counter()
                if mtmd.mtmd_encode_chunk(self._projector._context, chunk.handle) != 0:
                    raise HermesError("llama.cpp could not encode the image.")
                embeddings = mtmd.mtmd_get_output_embd(self._projector._context)
                encoded = time.perf_counter()
                result = mtmd.mtmd_helper_decode_image_chunk(
                    self._projector._context, llama._ctx.ctx, chunk.handle, embeddings, llama.n_tokens, 0,
                    llama.n_batch, ctypes.byref(new_past), mtmd.mtmd_helper_post_decode_callback(), None,
                )  # fmt: skip
                timing.encode_s += encoded - began
                timing.decode_s += time.perf_counter() - encoded
                timing.images += 1
                timing.image_tokens += chunk.n_tokens
                if result != 0:
                    if should_stop():
                        return None
                    raise HermesError(f"llama.cpp could not read the image's embeddings (error {result}).")
                first = llama.n_tokens
                llama.n_tokens = int(new_past.value)
                llama._input_ids[first : llama.n_tokens] = -1
            if on_progress is not None:
                on_progress(min(llama.n_tokens, total), total)
            if should_stop():
                return None
            start = chunk_end
        self._projector.held = keys[: llama.n_tokens]
        prompt = [int(t) for t in llama.input_ids[: llama.n_tokens]]
        return [*prompt, keys[-1]] if isinstance(keys[-1], int) else prompt


def _projector_path(info: GGUFInfo, options: LoadOptions) -> Path | None:
    chosen = options.projector.strip()
    if chosen.lower() == "none":
        return None
    return Path(chosen).expanduser() if chosen else find_projector(info.path)


def projector_bytes(info: GGUFInfo, options: LoadOptions) -> int:
    """What the projector the model will load with needs besides the model (its weights, and as much again for
    the compute buffer of an image's graph: a rule of thumb); 0 without one."""
    path = _projector_path(info, options)
    try:
        return 2 * path.stat().st_size if path is not None else 0
    except OSError:
        return 0


def open_projector(
    info: GGUFInfo, options: LoadOptions, llama: Llama, use_gpu: bool, flash_attn: bool
) -> tuple[Projector | None, tuple[str, ...]]:
    """The vision projector beside the model (``library.projector``), or the one the options name, opened for
    ``llama``; and the notes it leaves. One found beside the model that cannot serve it is a note (the model loads
    text-only); one the options name is a ModelLoadError. ``use_gpu``: where the model's layers went, it goes.
    """
    chosen = options.projector.strip()
    path = _projector_path(info, options)
    if path is None:
        return None, ()
    try:
        header = read_projector(path)
        problem = pair_problem(info, header)
        if problem:
            raise ModelLoadError(problem)
        threads = int(getattr(llama, "n_threads", 0) or 1)
        projector = Projector.open(llama, path, use_gpu=use_gpu, threads=threads, flash_attn=flash_attn)
    except (ModelFileError, ModelLoadError) as exc:
        if chosen:
            raise ModelLoadError(str(exc)) from None
        log.warning("%s: %s", info.path.name, exc)
        return None, (f"Images are off: {exc}",)
    log.info("vision projector %s (%s) %s", path.name, header.summary, "on the GPU" if use_gpu else "on the CPU")
    return projector, ()


class ImageCandidates:
    """The prompts with images a context policy tries (by how many messages they keep), each tokenized by mtmd once;
    the one kept is taken, the others freed."""

    def __init__(self, projector: Projector, pixels: Pixels) -> None:
        self._projector, self._pixels = projector, pixels
        self._prompts: dict[int, VisionPrompt] = {}

    def count(self, candidate: Sequence[ChatMessage], text: str, *, add_special: bool) -> int:
        """``candidate`` rendered as ``text`` (one marker per image): the positions it fills."""
        images = [(image.sha256, self._pixels[image.sha256]) for image in images_in(candidate)]
        if len(candidate) in self._prompts:
            self._prompts.pop(len(candidate)).free()
        prompt = self._projector.prompt(text, images, add_special=add_special)
        self._prompts[len(candidate)] = prompt
        return prompt.n_pos

    def take(self, kept: int) -> VisionPrompt | None:
        chosen = self._prompts.pop(kept, None)
        self.free()
        return chosen

    def free(self) -> None:
        for prompt in self._prompts.values():
            prompt.free()
        self._prompts.clear()


def image_candidates(
    messages: Sequence[ChatMessage], projector: Projector | None, model_name: str
) -> ImageCandidates | None:
    """When ``messages`` carry images: their pixels (or plain images' bytes) ready for the projector (None: a
    text-only prompt); VisionUnavailable when no projector is loaded."""
    images = images_in(messages)
    if not images:
        return None
    if projector is None:
        raise VisionUnavailable(
            f"{model_name} is a text-only model: it cannot read images. Load a vision model (a model with its "
            "mmproj projector file beside it) to send images."
        )
    pixels: Pixels = {}
    for image in images:
        if image.sha256 not in pixels:
            pixels[image.sha256] = image.data if image.plain else decode_rgb(image)
    return ImageCandidates(projector, pixels)


@contextlib.contextmanager
def _native_lines() -> Iterator[list[str]]:
    """llama.cpp's (and mtmd's) log lines of WARNING and above while a projector opens."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Collect(logging.WARNING)
    logging.getLogger("llama.cpp").addHandler(handler)
    try:
        yield lines
    finally:
        logging.getLogger("llama.cpp").removeHandler(handler)
