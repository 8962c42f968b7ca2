"""Running the user commands in-process against the real app, capturing what they print."""

from dataclasses import dataclass

import pytest

from gateways.cli.commands import main
from tests.unit.client_rig import Api


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


def ledgerflow(api: Api, capsys: pytest.CaptureFixture[str], *argv: str) -> Outcome:
    """`ledgerflow ARGV` against `api`: its exit code and what it printed."""
    code = main(list(argv), transport=api.transport)
    printed = capsys.readouterr()
    return Outcome(code, printed.out, printed.err)


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> Outcome:
    """`ledgerflow ARGV` that argparse refuses: its exit code and message."""
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    printed = capsys.readouterr()
    return Outcome(int(exited.value.code or 0), printed.out, printed.err)
