"""Settings read from the environment: the JetStream ack waits and the reconciler's bound."""

import pytest

from ops.settings import Settings, SettingsError
from streams.topology import AckWaits


def test_the_ack_waits_default_to_thirty_seconds() -> None:
    settings = Settings.from_env({})

    assert settings.ack_waits == AckWaits(dispatch=30.0, results=30.0)


def test_the_ack_waits_are_read_from_their_variables() -> None:
    settings = Settings.from_env(
        {
            "LEDGERFLOW_DISPATCH_ACK_WAIT_SECONDS": "2",
            "LEDGERFLOW_RESULTS_ACK_WAIT_SECONDS": "1.5",
        }
    )

    assert settings.ack_waits == AckWaits(dispatch=2.0, results=1.5)


@pytest.mark.parametrize(
    "name",
    [
        "LEDGERFLOW_DISPATCH_ACK_WAIT_SECONDS",
        "LEDGERFLOW_RESULTS_ACK_WAIT_SECONDS",
        "LEDGERFLOW_RECONCILE_AFTER_SECONDS",
    ],
)
@pytest.mark.parametrize("value", ["0.5", "3601", "-1", "nan", "inf"])
def test_a_wait_out_of_range_is_refused_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=rf"{name}: .* is out of range 1\.\.3600 seconds"):
        Settings.from_env({name: value})


def test_an_ack_wait_that_is_not_a_number_is_refused_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="LEDGERFLOW_DISPATCH_ACK_WAIT_SECONDS='soon' is not"):
        Settings.from_env({"LEDGERFLOW_DISPATCH_ACK_WAIT_SECONDS": "soon"})


def test_ack_waits_at_the_ends_of_the_range_are_accepted() -> None:
    settings = Settings.from_env(
        {
            "LEDGERFLOW_DISPATCH_ACK_WAIT_SECONDS": "1",
            "LEDGERFLOW_RESULTS_ACK_WAIT_SECONDS": "3600",
        }
    )

    assert settings.ack_waits == AckWaits(dispatch=1.0, results=3600.0)


def test_the_reconciler_re_sends_after_sixty_seconds_unless_told_otherwise() -> None:
    assert Settings.from_env({}).reconcile_after == 60.0
    assert Settings.from_env({"LEDGERFLOW_RECONCILE_AFTER_SECONDS": "5"}).reconcile_after == 5.0


def test_one_api_process_unless_told_otherwise() -> None:
    assert Settings.from_env({}).api_processes == 1
    assert Settings.from_env({"LEDGERFLOW_API_PROCESSES": "4"}).api_processes == 4


@pytest.mark.parametrize("value", ["0", "65", "-2"])
def test_api_processes_out_of_range_are_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(SettingsError, match=r"LEDGERFLOW_API_PROCESSES=.* out of range 1\.\.64"):
        Settings.from_env({"LEDGERFLOW_API_PROCESSES": value})


def test_api_processes_given_otherwise_are_checked_too() -> None:
    with pytest.raises(SettingsError, match="API processes: 0 is not from 1 to 64"):
        Settings(api_processes=0).check()
