"""Inbound events over HTTP: a CloudEvent posted here starts the runs its triggers match."""

from typing import Annotated, Any, Literal
from uuid import UUID

import anyio
from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import Body, QueryParameter
from pydantic import BaseModel, ConfigDict, Field

from aggregates.provenance import Origin
from aggregates.trigger import MAX_MESSAGE_BYTES, trigger_message
from engine.application import Ledgerflow
from engine.triggers import TriggeredRun
from gateways.http.openapi import problem_responses
from gateways.http.paths import run_path

_RUN_ID = "0b5e1d9c-4f6a-4c1e-9a33-7d2f8e4b6c10"
_EVENT: dict[str, Any] = {
    "specversion": "1.0",
    "id": "order-1042-created",
    "source": "/shop/orders",
    "type": "orders.created",
    "datacontenttype": "application/json",
    "data": {"order": 1042, "status": "paid"},
}

SubjectName = Annotated[
    str | None,
    QueryParameter(
        # The look-ahead keeps a final newline out (msgspec matches with `re.search`).
        pattern=r"^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,15}(?!\n)$",
        max_length=200,
        description="The subject name the event arrived on, as a trigger names it (dot-"
        "separated tokens of `[A-Za-z0-9_-]`, no wildcards); the event's `type` by default.",
        examples=[Example(summary="A subject name", value="orders.created")],
    ),
]


class IngestedEvent(BaseModel):
    """A CloudEvents 1.0 event in structured JSON mode; other attributes are kept as sent."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"]
    id: Annotated[str, Field(min_length=1, max_length=256)]
    source: Annotated[str, Field(min_length=1, max_length=1024)]
    type: Annotated[str, Field(min_length=1, max_length=256)]


class StartedRun(BaseModel):
    """A run the event started, or the one an earlier copy of it started."""

    model_config = ConfigDict(frozen=True)

    run_id: Annotated[UUID, Field(examples=[_RUN_ID])]
    workflow: Annotated[str, Field(examples=["fulfil-order"])]
    created: Annotated[bool, Field(description="False: an earlier copy started it.")]
    url: Annotated[str, Field(examples=[f"/v1/runs/{_RUN_ID}"])]

    @classmethod
    def of(cls, started: TriggeredRun) -> "StartedRun":
        run = started.run
        return cls(
            run_id=run.id, workflow=run.workflow, created=started.created, url=run_path(run.id)
        )


class IngestView(BaseModel):
    """What an ingested event did: the runs of the workflows whose triggers it matched."""

    model_config = ConfigDict(frozen=True)

    id: Annotated[str, Field(examples=["order-1042-created"])]
    subject: Annotated[str, Field(examples=["orders.created"])]
    runs: list[StartedRun]


_DUPLICATE = ResponseSpec(
    data_container=IngestView,
    description="An event with this `id` was ingested before: the runs it started.",
    generate_examples=False,
)


class IngestController(Controller):
    """Inbound CloudEvents: the HTTP twin of the `ledgerflow.triggers.<tenant>.>` subjects."""

    path = "/v1/events/ingest"
    tags = ["events"]  # noqa: RUF012 (Litestar reads it as a class attribute)

    @post(
        "/",
        status_code=202,
        summary="Ingest an event",
        description="Starts one run of every workflow of the tenant with a trigger on the "
        "event's subject name (the `subject` parameter, else the event's `type`) whose `type` "
        "and `filter` the event matches; the event is each run's `inputs`. The body is a "
        "CloudEvent in structured mode (`application/cloudevents+json` or `application/json`; "
        f"up to {MAX_MESSAGE_BYTES} bytes, the inputs limit). The event `id` makes it "
        "idempotent: the same id again starts nothing and answers 200 with the runs it "
        "started. An event no trigger matches is accepted with no runs.",
        response_description="Accepted: the runs started (200 for an id seen before).",
        responses={200: _DUPLICATE, **problem_responses(413, 415)},
    )
    async def ingest(
        self,
        *,
        request: Request[Any, Any, Any],
        data: Annotated[
            IngestedEvent,
            Body(
                title="CloudEvent",
                examples=[Example(summary="An order was paid", value=_EVENT)],
            ),
        ],
        engine: NamedDependency[Ledgerflow],
        tenant: NamedDependency[str],
        origin: NamedDependency[Origin],
        subject: SubjectName = None,
    ) -> Response[IngestView]:
        body = await request.json()
        message = trigger_message(subject or data.type, body, size=len(await request.body()))
        started = await anyio.to_thread.run_sync(
            engine.start_triggered_runs, tenant, message, origin.actor
        )
        status = 200 if started and not any(item.created for item in started) else 202
        view = IngestView(
            id=message.id, subject=message.subject, runs=[StartedRun.of(item) for item in started]
        )
        return Response(view, status_code=status)
