"""The API's resource paths and the path parameters that name workflows and runs."""

from typing import Annotated
from uuid import UUID

from litestar.openapi.spec import Example
from litestar.params import PathParameter

# msgspec checks patterns with `re.search`, where `$` also matches before a final newline:
# the look-ahead keeps `name%0A` out, and the pattern stays valid ECMAScript for OpenAPI.
_NAME_IN_PATH = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}(?!\n)$"

WorkflowName = Annotated[
    str,
    PathParameter(
        pattern=_NAME_IN_PATH,
        description="1-64 characters of `[A-Za-z0-9_-]`, starting with a letter or digit",
        examples=[Example(summary="A workflow name", value="nightly-etl")],
    ),
]

RunId = Annotated[
    UUID,
    PathParameter(
        description="The run's id (a UUID); anything else is refused with 422.",
        examples=[Example(summary="A run id", value="0b5e1d9c-4f6a-4c1e-9a33-7d2f8e4b6c10")],
    ),
]

SubscriptionId = Annotated[
    UUID,
    PathParameter(
        description="The subscription's id (a UUID); anything else is refused with 422.",
        examples=[
            Example(summary="A subscription id", value="5f0c7d2e-3b8a-4d61-9e2f-1a7c4b9d0e35")
        ],
    ),
]


def workflow_path(name: str) -> str:
    return f"/v1/workflows/{name}"


def run_path(run_id: UUID) -> str:
    return f"/v1/runs/{run_id}"


def run_events_path(run_id: UUID) -> str:
    return f"{run_path(run_id)}/events"
