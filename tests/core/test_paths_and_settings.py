import json
from pathlib import Path

import pytest

from app.core.paths import resolve_paths
from app.core.settings import Settings, SettingsStore, load_settings, save_settings


def test_basedir_argument_puts_everything_under_it(tmp_path: Path) -> None:
    paths = resolve_paths(tmp_path / "base").ensure()
    for directory in (paths.data, paths.config, paths.cache, paths.logs, paths.default_models_dir.parent):
        assert directory.is_dir()
        assert directory.is_relative_to(tmp_path / "base")


def test_basedir_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERMES_STUDIO_BASEDIR", str(tmp_path))
    assert resolve_paths().data == tmp_path / "data"
    assert resolve_paths(tmp_path / "explicit").data == tmp_path / "explicit" / "data"  # the flag wins


def test_without_basedir_platformdirs_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HERMES_STUDIO_BASEDIR", raising=False)
    assert "hermes-studio" in str(resolve_paths().data)


def test_settings_round_trip_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    assert load_settings(path) == Settings()
    save_settings(Settings(context_size=8192, theme="dark", cpu_threads=2), path)
    loaded = load_settings(path)
    assert (loaded.context_size, loaded.theme, loaded.cpu_threads) == (8192, "dark", 2)
    assert json.loads(path.read_text())["schema_version"] == 1


@pytest.mark.expect_log(r"settings file .* unreadable")
def test_damaged_settings_are_kept_aside_and_defaults_used(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{not json")
    assert load_settings(path) == Settings()
    assert (tmp_path / "settings.json.damaged").read_text() == "{not json"


def test_out_of_range_values_are_clamped(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"context_size": 3, "theme": "neon", "gpu_layers": -5, "unknown": 1}))
    loaded = load_settings(path)
    assert (loaded.context_size, loaded.theme, loaded.gpu_layers) == (256, "system", -1)


def test_the_settings_store_saves_and_tells_every_subscriber(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    store = SettingsStore.load(path)
    heard: list[tuple[Settings, Settings]] = []
    unsubscribe = store.subscribe(lambda new, old: heard.append((new, old)))
    before = store.current
    after = store.update(models_dir=str(tmp_path / "models"), context_size=100)
    assert store.current is after and after.context_size == 256  # validated on the way in
    assert heard == [(after, before)]
    assert load_settings(path) == after  # saved at once
    store.update(context_size=256)  # no change: nobody is told, nothing is written
    assert len(heard) == 1
    unsubscribe()
    store.update(theme="dark")
    assert len(heard) == 1 and load_settings(path).theme == "dark"
    with pytest.raises(TypeError):
        store.update(no_such_setting=1)


def test_a_store_that_cannot_save_keeps_the_settings_for_the_session(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    store = SettingsStore(blocked / "settings.json")  # its folder is a file: every save fails
    assert store.update(theme="light").theme == "light"
    assert store.current.theme == "light" and not store.save()


def test_a_large_log_is_rotated_at_start_and_old_ones_are_capped(tmp_path: Path) -> None:
    from app.core.logs import rotate_if_large

    log = tmp_path / "hermes-studio.log"
    for generation in range(5):
        log.write_text(f"session {generation}\n" + "x" * 100)
        rotate_if_large(log, limit=50, keep=3)
    assert not log.exists()
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == ["hermes-studio.log.1", "hermes-studio.log.2", "hermes-studio.log.3"]
    assert (tmp_path / "hermes-studio.log.1").read_text().startswith("session 4")
    assert (tmp_path / "hermes-studio.log.3").read_text().startswith("session 2")
    log.write_text("small")
    rotate_if_large(log, limit=50, keep=3)
    assert log.read_text() == "small"
