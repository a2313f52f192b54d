"""Guards against a PySide6 build that corrupts the interpreter (seen with 6.12.0 on Python 3.11)."""

import sys

from PySide6.QtWidgets import QLabel


def test_void_calls_do_not_drop_references_to_none(qapp) -> None:
    # PySide6 6.12.0 decrements None's reference count on every call of a method returning void;
    # on Python < 3.12 (None is not immortal) the process aborts after a few thousand paints.
    label = QLabel()
    before = sys.getrefcount(None)
    for _ in range(1000):
        label.setText("x")
    assert sys.getrefcount(None) - before > -100, "this PySide6 build leaks references to None; see pyproject.toml"
