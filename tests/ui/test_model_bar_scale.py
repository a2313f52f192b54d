"""A library of hundreds of models (issue 27): the model bar's cost estimates stop between files when the window
closes (closing waited for every header of a 300-model library: over a minute)."""

from pathlib import Path

from app.core.engines.load_options import LoadOptions
from app.core.library import gguf_file
from app.ui.engines import model_choices


def test_estimates_stop_between_files_when_asked(starter_model: Path, tmp_path: Path, monkeypatch) -> None:
    paths = []
    for index in range(6):
        path = tmp_path / f"model-{index}.gguf"
        path.symlink_to(starter_model)
        paths.append(str(path))
    read: list[str] = []
    real_read = gguf_file.read_gguf

    def counted(path):
        read.append(str(path))
        return real_read(path)

    monkeypatch.setattr(gguf_file, "read_gguf", counted)  # (model_choices imports it where it reads)
    wanted = {path: LoadOptions(context_size=512) for path in paths}
    every = model_choices.estimate_models(wanted)
    assert sorted(every) == sorted(paths) and all(every[p].context == 512 for p in paths)
    read.clear()
    closing = iter([False, False, True])  # the window closes while the third file is next
    assert model_choices.estimate_models(wanted, lambda: next(closing)) == {}
    assert read == paths[:2]
