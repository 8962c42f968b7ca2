"""`ledgerflow projections status|rebuild`: help, and a readable refusal without a database."""

import pytest

from ops.cli import main


@pytest.mark.parametrize(
    "argv", [["projections"], ["projections", "status"], ["projections", "rebuild"]]
)
def test_every_projections_command_has_help(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])

    assert exit_.value.code == 0
    assert "usage: ledgerflow projections" in capsys.readouterr().out


def test_without_a_database_the_command_says_where_it_looked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LEDGERFLOW_DATABASE_URL", raising=False)

    code = main(["projections", "status", "--data-dir", str(tmp_path)])

    assert code == 2
    assert f"running `ledgerflow up` (looked in {tmp_path})" in capsys.readouterr().err


def test_an_unknown_action_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["projections", "drop"])

    assert exit_.value.code == 2
    assert "invalid choice: 'drop'" in capsys.readouterr().err
