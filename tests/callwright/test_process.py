"""``run_command``: a command's errors become a message on stderr and an exit code."""

from __future__ import annotations

import argparse

import pytest

from callwright.errors import CallwrightError, ConfigError
from callwright.process import run_command


def handler_raising(exc: BaseException) -> argparse.Namespace:
    def func(args: argparse.Namespace) -> int:
        raise exc

    return argparse.Namespace(func=func)


@pytest.mark.parametrize(
    ("exc", "code", "message"),
    [
        (ConfigError("ari.url", "a URL"), 2, "prog: configuration error: "),
        (CallwrightError("the store is locked"), 1, "prog: the store is locked\n"),
        (KeyboardInterrupt(), 130, ""),
    ],
)
def test_errors_become_exit_codes(
    exc: BaseException, code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_command(handler_raising(exc), "prog") == code
    err = capsys.readouterr().err
    assert err.startswith(message) and (message or err == "")


def test_the_handler_s_own_code_is_returned() -> None:
    assert run_command(argparse.Namespace(func=lambda args: 3), "prog") == 3


def test_an_unexpected_error_is_not_swallowed() -> None:
    with pytest.raises(ZeroDivisionError):
        run_command(handler_raising(ZeroDivisionError()), "prog")
