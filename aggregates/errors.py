"""Domain errors: the rules of workflows and runs that a request can break."""

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request, located by a path like `tasks[1].depends_on`."""

    loc: str
    msg: str


class DomainError(Exception):
    """A rule of the domain refused a command; nothing was recorded."""


class InvalidWorkflowError(DomainError):
    """A workflow definition breaks a rule its fields alone cannot show (graph, names)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.loc}: {p.msg}" for p in problems))
        self.problems = problems


class WorkflowAlreadyExistsError(DomainError):
    def __init__(self, name: str) -> None:
        super().__init__(f"workflow {name!r} already exists")
        self.name = name


class WorkflowNotFoundError(DomainError):
    def __init__(self, name: str, version: int | None = None) -> None:
        which = f" version {version}" if version is not None else ""
        super().__init__(f"workflow {name!r}{which} not found")
        self.name = name
        self.version = version


class WorkflowRetiredError(DomainError):
    """A retired workflow starts no runs until it is applied (restored) again."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"workflow {name!r} is retired: PUT its definition to restore it before starting runs"
        )
        self.name = name


class RunNotFoundError(DomainError):
    def __init__(self, run_id: UUID | str) -> None:
        super().__init__(f"run {run_id} not found")
        self.run_id = run_id


class IdempotencyKeyReusedError(DomainError):
    """The same `Idempotency-Key` came with a different request."""

    def __init__(self, run_id: UUID) -> None:
        super().__init__(
            "this Idempotency-Key was already used with a different request "
            f"(it started run {run_id})"
        )
        self.run_id = run_id


class RunAlreadyFinishedError(DomainError):
    def __init__(self, run_id: UUID, status: str) -> None:
        super().__init__(f"run {run_id} already finished ({status})")
        self.run_id = run_id
        self.status = status


class RunNotRetryableError(DomainError):
    """Only a finished run that did not succeed can be retried."""

    def __init__(self, run_id: UUID, status: str) -> None:
        super().__init__(f"run {run_id} is {status}: only a failed or cancelled run can be retried")
        self.run_id = run_id
        self.status = status


class OutsideHistoryError(DomainError):
    """A point in an aggregate's history that it does not have: before it existed, or beyond
    its latest version. `loc` names the request parameter that asked for it."""

    def __init__(self, loc: str, msg: str) -> None:
        super().__init__(f"{loc} {msg}")
        self.problems = [Problem(loc, msg)]


class NoScheduleError(DomainError):
    """The workflow's current version has no `schedule`."""

    def __init__(self, name: str) -> None:
        super().__init__(f"workflow {name!r} has no schedule")
        self.name = name


class InvalidBackfillError(DomainError):
    """A backfill range the schedule cannot serve; `problems` name the fields."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.loc}: {p.msg}" for p in problems))
        self.problems = problems


class SubscriptionNotFoundError(DomainError):
    def __init__(self, subscription_id: UUID) -> None:
        super().__init__(f"subscription {subscription_id} not found")
        self.subscription_id = subscription_id


class InvalidTriggerMessageError(DomainError):
    """A message on a trigger subject that is not a storable CloudEvent; `problems` say why."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.loc}: {p.msg}" for p in problems))
        self.problems = problems
