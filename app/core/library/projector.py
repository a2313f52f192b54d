"""Vision projectors (``mmproj-*.gguf``): what their header says, and which model each belongs to.

llama.cpp's vision models are two files in one folder (as in their Hub repo): the model and a projector whose
GGUF architecture is ``clip``. ``read_projector`` reads the projector's header (``clip.has_vision_encoder``,
``clip.projector_type``, ``clip.vision.image_size``, and the width of the embeddings it produces, from the shape
of its last projection); ``find_projector`` pairs a model with the projector beside it (by name when a folder holds
several; F16/BF16 first); ``pair_problem`` says, for people, why a projector cannot serve a model (audio only, a
width that is not the model's) before anything reaches llama.cpp.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.core.errors import ModelFileError
from app.core.library.gguf_file import GGUFInfo, read_gguf

__all__ = [
    "ProjectorInfo",
    "choose_projector",
    "find_projector",
    "is_projector_name",
    "pair_problem",
    "projector_rank",
    "read_projector",
]

# Where each projector type's output width is: (tensor, dimension). Other types are checked by llama.cpp itself.
_OUTPUT_WIDTH = {
    "gemma3": ("mm.input_projection.weight", 0),
    "gemma3nv": ("mm.input_projection.weight", 0),
    "gemma4v": ("mm.input_projection.weight", 1),
    "mlp": ("mm.2.weight", 1),
    "mlp_norm": ("mm.2.weight", 1),
    "idefics3": ("mm.model.fc.weight", 1),
    "lfm2": ("mm.2.weight", 1),
    "pixtral": ("mm.2.weight", 1),
    "qwen2vl_merger": ("mm.2.weight", 1),
    "qwen2.5vl_merger": ("mm.2.weight", 1),
}
_PRECISION_ORDER = ("f16", "bf16", "f32", "q8_0")


@dataclass(frozen=True)
class ProjectorInfo:
    path: Path
    projector_type: str
    has_vision: bool
    has_audio: bool
    image_size: int
    patch_size: int
    output_width: int | None  # the text model's width it was made for (None: not read for this type)
    file_size: int = 0

    @property
    def summary(self) -> str:
        kind = "vision" if self.has_vision else ("audio" if self.has_audio else "no encoder")
        return f"{self.projector_type} {kind}, {self.image_size} px"


def is_projector_name(name: str) -> bool:
    lowered = name.lower()
    return lowered.endswith(".gguf") and "mmproj" in lowered


def read_projector(path: str | Path) -> ProjectorInfo:
    """A projector's header; ModelFileError when the file is not one (or is unreadable)."""
    info = read_gguf(path)
    if info.architecture != "clip":
        raise ModelFileError(f"{info.path.name} is not a vision projector (its architecture is {info.architecture}).")
    meta = info.metadata
    kind = str(meta.get("clip.projector_type") or meta.get("clip.vision.projector_type") or "unknown")
    width = None
    where = _OUTPUT_WIDTH.get(kind)
    if where is not None and where[0] in info.tensor_dims and len(info.tensor_dims[where[0]]) > where[1]:
        width = int(info.tensor_dims[where[0]][where[1]])
    return ProjectorInfo(
        path=info.path,
        projector_type=kind,
        has_vision=bool(meta.get("clip.has_vision_encoder", False)),
        has_audio=bool(meta.get("clip.has_audio_encoder", False)),
        image_size=_int(meta.get("clip.vision.image_size")),
        patch_size=_int(meta.get("clip.vision.patch_size")),
        output_width=width,
        file_size=info.file_size,
    )


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def text_width(model: GGUFInfo) -> int | None:
    value = model.metadata.get(f"{model.architecture}.embedding_length")
    return value if isinstance(value, int) else None


def pair_problem(model: GGUFInfo, projector: ProjectorInfo) -> str:
    """Why ``projector`` cannot give ``model`` images, for people; "" when it can."""
    if not projector.has_vision:
        what = "audio only" if projector.has_audio else "no encoder"
        return f"{projector.path.name} is a projector for {what}: it cannot read images."
    width = text_width(model)
    if projector.output_width is not None and width is not None and projector.output_width != width:
        return (
            f"{projector.path.name} does not belong to {model.path.name}: it makes embeddings of width "
            f"{projector.output_width:,}, the model reads {width:,}. Use the projector from the model's own repository."
        )
    return ""


def projector_rank(name: str) -> int:
    """Which of several projectors to prefer (lower first): F16, BF16, F32, Q8_0, then the rest."""
    lowered = name.lower()
    for rank, precision in enumerate(_PRECISION_ORDER):
        if re.search(rf"(^|[-_.]){precision}([-_.]|$)", lowered):
            return rank
    return len(_PRECISION_ORDER)


_PRECISION_WORD = re.compile(r"^(i?q\d\w*|b?f\d+|k|[sml]|xs|xxs|[0-9]+)$")  # q8, 0, k, m, f16, bf16: not the name


def _stem_words(name: str) -> set[str]:
    """The words of a file's name that say which model it is (not its precision, not "mmproj")."""
    stem = name.lower().removesuffix(".gguf")
    return {word for word in re.split(r"[-_.]", stem) if word and word != "mmproj" and not _PRECISION_WORD.match(word)}


def choose_projector(model_name: str, candidates: Sequence[str]) -> str | None:
    """Of several projector file names (paths), the one for ``model_name``: the one sharing most of its name,
    then F16, BF16, F32, Q8_0 (a projector is small; its precision matters more than its size)."""
    found = [name for name in candidates if is_projector_name(name.rsplit("/", 1)[-1])]
    if not found:
        return None
    words = _stem_words(model_name.rsplit("/", 1)[-1])
    found.sort(key=lambda n: (-len(words & _stem_words(n.rsplit("/", 1)[-1])), projector_rank(n.rsplit("/", 1)[-1]), n))
    return found[0]


def find_projector(model_path: Path, neighbours: Sequence[str] | None = None) -> Path | None:
    """The projector beside ``model_path`` (None: none there); ``neighbours``: the folder's file names, if known."""
    if neighbours is None:
        try:
            neighbours = [p.name for p in model_path.parent.iterdir() if p.is_file()]
        except OSError:
            return None
    chosen = choose_projector(model_path.name, [n for n in neighbours if n != model_path.name])
    return model_path.parent / chosen if chosen else None
