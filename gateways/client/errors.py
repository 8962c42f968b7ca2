"""What can go wrong talking to the API: a problem+json answer, or no answer at all."""

from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

_MAX_DETAIL = 200


@dataclass(frozen=True)
class FieldError:
    """One thing wrong with a request, located like `tasks[1].depends_on`."""

    loc: str
    msg: str


class ApiError(Exception):
    """The API refused or failed a request; the fields are those of its RFC 9457 problem."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        type: str = "about:blank",
        errors: tuple[FieldError, ...] = (),
        request_id: str | None = None,
    ) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type
        self.errors = errors
        self.request_id = request_id
        super().__init__(self._message())

    @classmethod
    def of(cls, response: "httpx.Response") -> "ApiError":
        """The error an unsuccessful `response` reports, problem+json or not."""
        phrase = _phrase(response.status_code)
        request_id = response.headers.get("X-Request-Id")
        body = _json_object(response)
        if body is None:
            detail = " ".join(response.text.split())[:_MAX_DETAIL] or phrase
            return cls(response.status_code, phrase, detail, request_id=request_id)
        return cls(
            response.status_code,
            str(body.get("title") or phrase),
            str(body.get("detail") or phrase),
            type=str(body.get("type") or "about:blank"),
            errors=_field_errors(body.get("errors")),
            request_id=request_id,
        )

    def _message(self) -> str:
        message = f"{self.status} {self.title}"
        if self.detail and self.detail != self.title:
            message += f": {self.detail}"
        if self.errors:
            message += " (" + "; ".join(f"{e.loc}: {e.msg}" for e in self.errors) + ")"
        return message


class ApiUnreachableError(Exception):
    """No answer from the API at `url`: nothing listens there, or it did not answer in time."""

    def __init__(self, url: str, reason: str, *, refused: bool = False) -> None:
        self.url = url
        self.reason = reason
        self.refused = refused
        super().__init__(f"cannot reach the API at {url}: {reason}")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _json_object(response: "httpx.Response") -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _field_errors(errors: object) -> tuple[FieldError, ...]:
    if not isinstance(errors, list):
        return ()
    return tuple(
        FieldError(str(error.get("loc", "")), str(error.get("msg", "")))
        for error in errors
        if isinstance(error, dict)
    )
