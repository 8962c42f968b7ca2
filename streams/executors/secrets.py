"""Resolves the secrets a task names from the worker's environment, and scrubs them from reports.

A spec names a secret (`{"secret": "TOKEN"}`); the worker reads it from its own environment
variable `LEDGERFLOW_SECRET_TOKEN` at execution time. Task processes never see the worker's
`LEDGERFLOW_SECRET_*` variables, only the values their spec asks for, and every value handed
out is replaced by `***` in what the attempt reports (tails, error, output).
"""

from collections.abc import Iterable, Mapping
from typing import Any

from aggregates.spec import SecretRef

SECRET_VARIABLE_PREFIX = "LEDGERFLOW_SECRET_"  # noqa: S105 -- a variable name prefix, no secret
MASK = "***"
# A long text may be a tail cut out of a longer stream, cutting a secret in two: a part of a
# secret (4 characters or more) left at either end of such a text is masked too.
_CUT_TEXT_CHARACTERS = 1024
_CUT_FRAGMENT_CHARACTERS = 4


class MissingSecretError(Exception):
    """A task names a secret this worker does not have; the attempt fails saying which."""


class SecretResolver:
    """Hands out the secrets of one attempt and remembers each value, so it can be scrubbed."""

    def __init__(self, env: Mapping[str, str], worker: str) -> None:
        self._env = env
        self._worker = worker
        self._handed_out: set[str] = set()

    def resolve(self, value: str | SecretRef) -> str:
        if isinstance(value, str):
            return value
        secret = self._env.get(f"{SECRET_VARIABLE_PREFIX}{value.secret}")
        if secret is None:
            msg = f"secret {value.secret} is not set on worker {self._worker}"
            raise MissingSecretError(msg)
        if secret:
            self._handed_out.add(secret)
        return secret

    def resolve_all(self, values: Mapping[str, str | SecretRef]) -> dict[str, str]:
        return {name: self.resolve(value) for name, value in values.items()}

    @property
    def handed_out(self) -> frozenset[str]:
        return frozenset(self._handed_out)


def public_env(env: Mapping[str, str]) -> dict[str, str]:
    """The worker's environment without its secrets: what task processes start from."""
    return {
        name: value for name, value in env.items() if not name.startswith(SECRET_VARIABLE_PREFIX)
    }


def scrub_text(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of a secret, and a secret cut at either end, masked."""
    ordered = sorted(secrets, key=len, reverse=True)  # so a secret containing another goes first
    for secret in ordered:
        text = text.replace(secret, MASK)
    if len(text) >= _CUT_TEXT_CHARACTERS:
        for secret in ordered:
            text = _mask_cut_ends(text, secret)
    return text


def scrub_json(value: Any, secrets: Iterable[str]) -> Any:
    """A copy of a JSON value with secrets masked in every string, keys included."""
    ordered = tuple(secrets)
    if isinstance(value, str):
        return scrub_text(value, ordered)
    if isinstance(value, dict):
        return {scrub_text(key, ordered): scrub_json(item, ordered) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub_json(item, ordered) for item in value]
    return value


def _mask_cut_ends(text: str, secret: str) -> str:
    lengths = range(len(secret) - 1, _CUT_FRAGMENT_CHARACTERS - 1, -1)
    for length in lengths:
        if text.startswith(secret[-length:]):
            text = MASK + text[length:]
            break
    for length in lengths:
        if text.endswith(secret[:length]):
            return text[:-length] + MASK
    return text
