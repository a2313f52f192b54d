"""Run the self-test's steps in order, one line each; exit 0 when every step chosen passed, 1 when one failed.

stderr gets a line per step as it ends (``self-test step state: ok in 2.10 s (312 prompt tokens restored)``);
stdout gets the verdict (``self-test OK: 7 steps passed; the window said '…'``). A failure's reason is the
exception's message, never a traceback (the traceback goes to the log).
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from app.core.errors import HermesError
from app.core.paths import AppPaths
from app.core.settings import SettingsStore
from app.selftest.probe import Probe, Step, StepFailed
from app.selftest.steps import HEADLESS_STEPS

log = logging.getLogger(__name__)

WINDOW_STEP = Step("chat", "the window loads the model and streams a reply", lambda _probe: "", in_window=True)
STEPS: tuple[Step, ...] = (*HEADLESS_STEPS, WINDOW_STEP)
STEP_NAMES = tuple(step.name for step in STEPS)


class UnknownStep(HermesError):
    pass


def choose(only: Sequence[str] | None) -> list[Step]:
    if not only:
        return list(STEPS)
    unknown = [name for name in only if name not in STEP_NAMES]
    if unknown:
        raise UnknownStep(f"no self-test step named {', '.join(unknown)} (steps: {', '.join(STEP_NAMES)})")
    return [step for step in STEPS if step.name in only]


def run_self_test(paths: AppPaths, settings: SettingsStore, model: str | None, only: Sequence[str] | None) -> int:
    if not model:
        print("self-test: --model PATH is required", file=sys.stderr)
        return 2
    try:
        steps = choose(only)
    except UnknownStep as exc:
        print(f"self-test: {exc}", file=sys.stderr)
        return 2
    passed: list[str] = []
    window_reply = ""
    with tempfile.TemporaryDirectory(prefix="hermes-self-test-") as scratch:
        probe = Probe(Path(model), Path(scratch))
        try:
            for step in steps:
                started = time.monotonic()
                try:
                    if step.in_window:
                        from app.ui.app import window_self_test  # Qt only for this step

                        probe.close()  # the window loads its own engine: one model in memory at a time
                        window_reply = window_self_test(paths, settings, model)
                        detail = repr(window_reply)
                    else:
                        detail = step.run(probe)
                except Exception as exc:  # a step's failure is its line, then the verdict
                    log.info("self-test step %s failed", step.name, exc_info=True)  # the log keeps the traceback
                    reason = str(exc) if isinstance(exc, HermesError | StepFailed) else _describe(exc)
                    print(f"self-test step {step.name}: FAILED after {time.monotonic() - started:.2f} s: {reason}",
                          file=sys.stderr)  # fmt: skip
                    print(f"self-test FAILED: {reason} (step {step.name}: {step.what})", file=sys.stderr)
                    return 1
                print(f"self-test step {step.name}: ok in {time.monotonic() - started:.2f} s ({detail})",
                      file=sys.stderr)  # fmt: skip
                passed.append(step.name)
        finally:
            probe.close()
    said = f"; the window said {window_reply!r}" if window_reply else ""
    print(f"self-test OK: {len(passed)} step(s) passed ({', '.join(passed)}){said}")
    return 0


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
