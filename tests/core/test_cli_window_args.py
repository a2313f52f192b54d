"""The window's fast path through the command line (issue 20, part 4): a plain start (``--basedir``, ``--model``,
``--open``) is read without building the whole parser, exactly as the whole parser reads it; anything else goes to
the whole parser, with its help and its errors."""

from __future__ import annotations

import pytest

from app.cli.main import build_parser, main, window_args

WINDOW_STARTS = [
    [],
    ["--basedir", "data"],
    ["--basedir=data"],
    ["--basedir="],
    ["--model", "starter", "--open", "card.png"],
    ["--open=-odd name.gguf", "--basedir", "some dir"],
    ["--model", "first", "--model=second"],  # the last one wins, as in argparse
]
OTHERS = [
    ["chat", "--model", "m", "hello"],
    ["--basedir", "data", "devices"],
    ["--self-test"],
    ["--help"],
    ["--version"],
    ["--model"],  # no value: the parser's error
    ["--model", "--open", "x"],
    ["--basedir", "-data"],
    ["--base", "data"],  # an abbreviation argparse accepts: its reading, not a guess
    ["--", "x"],
    ["--modelx=1"],
    ["stray"],
]


@pytest.mark.parametrize("argv", WINDOW_STARTS)
def test_a_window_start_is_read_as_the_whole_parser_reads_it(argv: list[str]) -> None:
    fast = window_args(argv)
    assert fast is not None
    assert vars(fast) == vars(build_parser().parse_args(argv))


@pytest.mark.parametrize("argv", OTHERS)
def test_anything_else_goes_to_the_whole_parser(argv: list[str]) -> None:
    assert window_args(argv) is None


def test_an_unknown_option_still_gets_the_parsers_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--basedir", "-data"])
    assert exited.value.code == 2
    assert "--basedir: expected one argument" in capsys.readouterr().err
