"""What `ledgerflow up` starts: the API as many times as asked, the engine and one worker."""

import pytest

from ops.cli import main
from ops.settings import Settings
from ops.supervisor import _children


def test_up_starts_one_api_an_engine_and_a_worker_by_default() -> None:
    assert _children(Settings()) == [("api", "api"), ("engine", "engine"), ("worker", "worker")]


def test_up_starts_each_api_process_under_its_own_name() -> None:
    names = [name for name, service in _children(Settings(api_processes=3)) if service == "api"]

    assert names == ["api", "api-2", "api-3"]


def test_up_refuses_a_number_of_api_processes_out_of_range(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["up", "--api-processes", "0"])

    assert code == 2
    assert "API processes: 0 is not from 1 to 64" in capsys.readouterr().err
