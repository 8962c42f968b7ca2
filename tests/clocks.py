"""The engine's clock in tests: it stands still until the test moves it."""

from datetime import UTC, datetime, timedelta


class MovingClock:
    """A clock that shows `at` until the test moves it (to an instant, or by some seconds)."""

    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at

    def move_to(self, at: datetime) -> None:
        self.at = at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)
