"""A server you can see (issue 25, 11): while the Server page serves, the status bar and the rail say so."""

from __future__ import annotations

from tests.server.conftest import free_port


def test_the_indicator_shows_while_the_server_page_serves(qtbot, window) -> None:
    indicator = window.server_indicator
    assert not indicator.shown
    window.router.show("server")
    page = window.router.page("server")
    page.port.setValue(free_port())
    page.toggle.click()
    assert page.running and indicator.shown
    assert f"API server · {page.runner.url}" in indicator.button.text()
    assert indicator.rail_action is not None and indicator.rail_action.toolTip() == "Server — running"
    window.router.show("chat")
    indicator.button.click()  # the status bar's button opens the Server page
    assert window.stack.currentWidget() is page
    page.toggle.click()
    assert not indicator.shown and indicator.rail_action.toolTip() == "Server"


def test_a_terminal_serve_on_this_base_directory_shows_too(qtbot, window, basedir) -> None:
    from tests.server.conftest import hermes_serve

    indicator = window.server_indicator
    process = hermes_serve(basedir, "--jit")
    try:
        qtbot.waitUntil(lambda: indicator.shown, timeout=30_000)
        assert f"serve · {process.url}" in indicator.button.text()
        assert indicator.rail_action is not None and indicator.rail_action.toolTip() == "Server — running"
        announced = list((window.paths.data / "servers").glob("*.json"))
        assert [path.stem for path in announced] == [str(process.popen.pid)]
        process.popen.kill()  # kill -9: its announcement stays behind, and is seen to be stale
        process.popen.wait(30)
        qtbot.waitUntil(lambda: not indicator.shown, timeout=30_000)
        assert not announced[0].exists()
    finally:
        process.stop()
