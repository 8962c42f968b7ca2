"""The HTTP API's factory: routes, dependencies, limits and error mapping around one engine."""

from collections.abc import Callable
from typing import TypeVar

from litestar import Litestar, Router
from litestar.datastructures import ResponseHeader
from litestar.di import Provide
from litestar.middleware import DefineMiddleware

from engine.application import Ledgerflow
from engine.event_feed import EventFeed
from engine.run_waits import RunWaits
from gateways.http.allow import allow_every_method
from gateways.http.audit import AuditController
from gateways.http.deadline import DEFAULT_DEADLINE_SECONDS, RequestDeadline
from gateways.http.event_stream import EventStreaming
from gateways.http.events import EventController
from gateways.http.health import HealthController, ReadinessProbe
from gateways.http.ingest import IngestController
from gateways.http.limits import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_JSON_DEPTH,
    guarded_request_class,
)
from gateways.http.metrics import MetricsController, ScheduleTotals
from gateways.http.model_schemas import ClosedModelSchemas, CollectionSchemas
from gateways.http.openapi import openapi_config
from gateways.http.origin import REQUEST_ID_HEADER, echo_request_id, origin_of, tenant_of
from gateways.http.problems import exception_handlers
from gateways.http.projections import ProjectionController, ProjectionStatuses
from gateways.http.run_history import RunHistoryController
from gateways.http.run_lists import RunListController, RunListing, TaskAttempts
from gateways.http.runs import RunController
from gateways.http.schedules import ScheduleController
from gateways.http.statistics import StatisticsController, StatisticsListing
from gateways.http.subscriptions import SubscriptionController
from gateways.http.workers import WorkerController, WorkerDirectory
from gateways.http.workflow_lists import WorkflowListing, list_workflows
from gateways.http.workflows import WorkflowController
from gateways.webhooks.addresses import AddressPolicy
from gateways.webhooks.store import MemoryWebhookStore, WebhookStore

T = TypeVar("T")


def create_app(
    engine: Ledgerflow,
    readiness: ReadinessProbe,
    workers: WorkerDirectory,
    *,
    runs: RunListing,
    workflows: WorkflowListing,
    attempts: TaskAttempts,
    statistics: StatisticsListing,
    projections: ProjectionStatuses,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH,
    event_streaming: EventStreaming | None = None,
    webhook_store: WebhookStore | None = None,
    webhook_addresses: AddressPolicy | None = None,
    schedule_totals: ScheduleTotals = list,
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
    run_waits: RunWaits | None = None,
) -> Litestar:
    """The Litestar app serving `engine`; `readiness` says whether PostgreSQL and NATS are up,
    `workers` lists the worker registry; `runs`, `workflows`, `attempts` and `statistics` list
    the read models (eventually consistent with the log), and `projections` reports their lag;
    `event_streaming` paces Server-Sent Event responses (`close()` it to end them on shutdown);
    `webhook_store` keeps subscriptions' secrets and delivery logs (in memory if not given) and
    `webhook_addresses` says which endpoint URLs may be subscribed (public https by default);
    `schedule_totals` reads the schedules read model for `GET /metrics` (none if not given);
    a request with no answer after `deadline_seconds` gets a 503 (see `RequestDeadline`);
    `run_waits` wakes requests waiting for a run to end (one of its own if not given)."""
    waits = run_waits or RunWaits(engine)
    return Litestar(
        route_handlers=[
            # One router for both: Litestar cannot add a handler to a path that an earlier
            # registration serves (it would declare OPTIONS twice and re-wrap sync handlers).
            Router(path="/", route_handlers=[WorkflowController, list_workflows]),
            # POST /v1/runs (ad-hoc runs) and GET /v1/runs share a path: one router, likewise.
            Router(path="/", route_handlers=[RunController, RunListController]),
            RunHistoryController,  # its own paths (/v1/runs/{run_id}/events, /timeline)
            StatisticsController,  # its own path (/v1/workflows/{name}/statistics): no clash
            ScheduleController,  # .../{name}/schedule and .../{name}/backfill: no clash either
            WorkerController,
            ProjectionController,
            EventController,
            IngestController,  # /v1/events/ingest: its own path beside /v1/events
            SubscriptionController,
            AuditController,
            HealthController,
            MetricsController,
        ],
        dependencies={
            "engine": Provide(_constant(engine), use_cache=True, sync_to_thread=False),
            "run_waits": Provide(_constant(waits), use_cache=True, sync_to_thread=False),
            "readiness_probe": Provide(_constant(readiness), use_cache=True, sync_to_thread=False),
            "worker_directory": Provide(_constant(workers), use_cache=True, sync_to_thread=False),
            "run_listing": Provide(_constant(runs), use_cache=True, sync_to_thread=False),
            "workflow_listing": Provide(_constant(workflows), use_cache=True, sync_to_thread=False),
            "task_attempts": Provide(_constant(attempts), use_cache=True, sync_to_thread=False),
            "workflow_statistics": Provide(
                _constant(statistics), use_cache=True, sync_to_thread=False
            ),
            "projection_statuses": Provide(
                _constant(projections), use_cache=True, sync_to_thread=False
            ),
            "event_feed": Provide(
                _constant(EventFeed(engine)), use_cache=True, sync_to_thread=False
            ),
            "event_streaming": Provide(
                _constant(event_streaming or EventStreaming()), use_cache=True, sync_to_thread=False
            ),
            "webhook_store": Provide(
                _constant(webhook_store or MemoryWebhookStore()),
                use_cache=True,
                sync_to_thread=False,
            ),
            "webhook_addresses": Provide(
                _constant(webhook_addresses or AddressPolicy()),
                use_cache=True,
                sync_to_thread=False,
            ),
            "schedule_totals": Provide(
                _constant(schedule_totals), use_cache=True, sync_to_thread=False
            ),
            "tenant": Provide(tenant_of, sync_to_thread=False),
            "origin": Provide(origin_of, sync_to_thread=False),
        },
        exception_handlers=exception_handlers(max_body_bytes=max_body_bytes),
        request_class=guarded_request_class(max_json_depth),
        request_max_body_size=max_body_bytes,
        before_send=[echo_request_id, allow_every_method],
        middleware=[DefineMiddleware(RequestDeadline, seconds=deadline_seconds)],
        response_headers=[
            ResponseHeader(
                name=REQUEST_ID_HEADER,
                value="req-7f3a",
                documentation_only=True,
                description="The request's correlation id (its sane `X-Request-Id`, or a new one).",
            )
        ],
        openapi_config=openapi_config(),
        # Logging belongs to the composition root: Litestar's default config would reconfigure
        # the root logger. Unexpected errors are logged by the exception handlers.
        plugins=[CollectionSchemas(), ClosedModelSchemas()],
        logging_config=None,
        on_shutdown=[waits.stop],
        debug=False,
    )


def _constant(value: T) -> Callable[[], T]:
    def provide() -> T:
        return value

    return provide
