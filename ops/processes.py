"""The long-running services: `ledgerflow api`, `ledgerflow engine` and `ledgerflow worker`."""

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace

import uvicorn
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from engine.application import Ledgerflow
from gateways.http.app import create_app
from gateways.http.event_stream import EventStreaming
from gateways.http.health import Readiness
from gateways.scheduler import Scheduler
from gateways.timers import Timers
from gateways.webhooks.addresses import AddressPolicy
from gateways.webhooks.delivery import WebhookDeliverer
from ops.events import build_event_relay
from ops.settings import SUPERVISOR_PID_VARIABLE, Settings
from ops.system import (
    CANCEL_RELAY_TRACKING_TABLE,
    DISPATCHER_TRACKING_TABLE,
    WEBHOOK_TRACKING_TABLE,
    build_attempts_view,
    build_engine,
    build_projection,
    build_projection_status,
    build_rebuilder,
    build_runs_view,
    build_schedules_view,
    build_statistics_view,
    build_tracking,
    build_webhook_store,
    connect_nats,
    read_models,
)
from projections.schedules.projection import SCHEDULES
from streams.control import CancelRelay
from streams.dead_letters import DeadLetters
from streams.dispatcher import Dispatcher
from streams.executors.python import DeclaredImportError, import_declared
from streams.liveness import LivenessMonitor
from streams.reconciler import Reconciler
from streams.recorder import ResultRecorder
from streams.subjects import Subjects
from streams.topology import AckWaits, declare_streams
from streams.triggers import TriggerConsumer
from streams.worker import Worker

logger = logging.getLogger(__name__)

STARTUP_RETRY_SECONDS = 1.0
GIL_SWITCH_INTERVAL_SECONDS = 0.0005
API_STATEMENT_TIMEOUT_SECONDS = 10.0
"""No API request waits longer than this on one PostgreSQL statement (it answers 503)."""


def run_service(
    service: Callable[[Settings, asyncio.Event], Awaitable[None]], settings: Settings
) -> None:
    """Run one service until SIGINT or SIGTERM, then let it finish its in-flight work."""

    # Each step of a task hops between threads (log subscriptions, the event loop, the store's
    # thread pool); with the default 5 ms GIL switch interval those hops dominated latency.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        orphaned = asyncio.create_task(_stop_when_orphaned(stop))
        try:
            await service(settings, stop)
        finally:
            orphaned.cancel()

    asyncio.run(main())


async def _stop_when_orphaned(stop: asyncio.Event) -> None:
    """Under `ledgerflow up`, stop if the supervisor dies without stopping us (kill -9)."""
    supervisor = os.environ.get(SUPERVISOR_PID_VARIABLE)
    if supervisor is None:
        return
    while not stop.is_set():
        if os.getppid() != int(supervisor):
            logger.warning("the supervisor is gone; stopping")
            stop.set()
        await asyncio.sleep(1.0)


ENGINE_HELD_CONNECTIONS = 2 * (len(read_models()) + 4)
"""Pooled connections the engine process holds for its lifetime: each read model's, the
dispatcher's, the cancel relay's, the event relay's and the webhook deliverer's subscription
and lock."""


async def serve_engine(settings: Settings, stop: asyncio.Event) -> None:
    """The log followers (dispatcher, cancel relay, event relay, a projection per read model),
    the result recorder, the trigger consumer, the liveness monitor, the dead-letter handler
    and the driving loops (timers, cron scheduler, reconciler), sharing one Application and
    one NATS connection."""
    engine = build_engine(_with_room_for_followers(settings))
    nc = await connect_nats(settings, "engine")
    try:
        subjects = Subjects(settings.nats_prefix)
        js = await _declared(nc, subjects, settings.ack_waits, stop)
        # Read models built by another version are rebuilt (online) before they are followed.
        await asyncio.to_thread(build_rebuilder(engine).ensure_current, read_models())
        tracking = build_tracking(engine, DISPATCHER_TRACKING_TABLE)
        dispatcher = Dispatcher(engine, tracking, js, subjects)
        recorder = ResultRecorder(engine, js, subjects)
        scheduler = Scheduler(engine, build_schedules_view(engine))
        # A schedule applied, paused or resumed wakes the scheduler as soon as the schedules
        # read model has it (where this replica follows it), not at its next look.
        projections = [
            build_projection(
                engine, model, scheduler.schedules_changed if model is SCHEDULES else None
            )
            for model in read_models()
        ]
        view = build_attempts_view(engine)
        timers = Timers(engine, view)
        reconciler = Reconciler(engine, view, js, subjects, bound=settings.reconcile_after)
        liveness = LivenessMonitor(
            engine,
            nc,
            subjects,
            view.running_on,
            view.live_workers,
            read_model_position=view.position,
            interval=settings.heartbeat_seconds,
        )
        dead_letters = DeadLetters(engine, js, subjects)
        triggers = TriggerConsumer(engine, js, subjects)
        cancel_relay = CancelRelay(
            engine, build_tracking(engine, CANCEL_RELAY_TRACKING_TABLE), js, nc, subjects
        )
        event_relay = await build_event_relay(engine, nc, js, settings)
        webhooks = WebhookDeliverer(
            engine,
            build_webhook_store(engine),
            build_tracking(engine, WEBHOOK_TRACKING_TABLE),
            addresses=AddressPolicy(allow_private=settings.webhook_allow_private),
        )
        logger.info("engine started (dispatcher at position %d)", dispatcher.position)
        await asyncio.gather(
            dispatcher.run(stop),
            recorder.run(stop),
            *(projection.run(stop) for projection in projections),
            timers.run(stop),
            scheduler.run(stop),
            reconciler.run(stop),
            liveness.run(stop),
            dead_letters.run(stop),
            triggers.run(stop),
            cancel_relay.run(stop),
            event_relay.run(stop),
            webhooks.run(stop),
        )
    finally:
        await nc.drain()
        engine.close()


def _with_room_for_followers(settings: Settings) -> Settings:
    """Settings whose pool has room for the held connections plus the engine's own work."""
    smallest = ENGINE_HELD_CONNECTIONS + 2
    if settings.pool_size >= smallest:
        return settings
    logger.info("engine: pool size raised from %d to %d", settings.pool_size, smallest)
    return replace(settings, pool_size=smallest)


async def serve_worker(settings: Settings, stop: asyncio.Event) -> None:
    """One stateless worker: it talks to NATS only, never to PostgreSQL.

    The modules named by `worker_imports` are imported first: one that fails stops the start
    (exit status 2) with a readable error, before anything connects.
    """
    try:
        import_declared(settings.worker_imports)
    except DeclaredImportError as error:
        logger.error("worker %s cannot start: %s", settings.worker_name, error)
        raise SystemExit(2) from None
    nc = await connect_nats(settings, f"worker-{settings.worker_name}")
    try:
        subjects = Subjects(settings.nats_prefix)
        await _declared(nc, subjects, settings.ack_waits, stop)
        worker = Worker(
            nc,
            subjects,
            name=settings.worker_name,
            queues=settings.worker_queues,
            concurrency=settings.worker_concurrency,
            base_env=dict(os.environ),
            drain_grace=settings.worker_drain_grace,
            heartbeat_interval=settings.heartbeat_seconds,
            executors=settings.worker_executors,
            start_report_delay=settings.worker_start_report_delay,
            ack_wait=settings.dispatch_ack_wait,
        )
        logger.info("worker %s serving queues %s", settings.worker_name, settings.worker_queues)
        await worker.run(stop)
    finally:
        await nc.drain()


async def serve_api(settings: Settings, stop: asyncio.Event) -> None:
    """The HTTP API; it reads and writes the log in PostgreSQL and only watches NATS for health."""
    engine = build_engine(settings, statement_timeout=API_STATEMENT_TIMEOUT_SECONDS)
    nc = await connect_nats(settings, "api")
    attempts, runs = build_attempts_view(engine), build_runs_view(engine)
    streaming = EventStreaming()
    app = create_app(
        engine,
        _readiness(engine, nc),
        attempts.workers,
        runs=runs.runs,
        workflows=runs.workflows,
        attempts=attempts.attempts_of,
        statistics=build_statistics_view(engine).buckets,
        projections=build_projection_status(engine),
        event_streaming=streaming,
        webhook_store=build_webhook_store(engine),
        webhook_addresses=AddressPolicy(allow_private=settings.webhook_allow_private),
        schedule_totals=build_schedules_view(engine).every,
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    watcher = asyncio.create_task(_exit_on(stop, server))
    closer = asyncio.create_task(_close_streams_on_exit(server, streaming))
    shared = settings.api_processes > 1
    try:
        await server.serve([shared_socket(settings.host, settings.port)] if shared else None)
    finally:
        watcher.cancel()
        closer.cancel()
        await nc.close()
        engine.close()


def shared_socket(host: str, port: int) -> socket.socket:
    """A socket bound to `host:port` that the other API processes bind too (`SO_REUSEPORT`):
    the kernel spreads new connections over them, so each process's GIL serves a share."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


async def _exit_on(stop: asyncio.Event, server: uvicorn.Server) -> None:
    await stop.wait()
    server.should_exit = True


async def _close_streams_on_exit(server: uvicorn.Server, streaming: EventStreaming) -> None:
    """End the Server-Sent Event streams as soon as uvicorn starts to shut down (on SIGTERM,
    say): it waits for open responses, and a stream would otherwise hold it to its timeout."""
    while not server.should_exit:  # noqa: ASYNC110 (uvicorn exposes a flag, not an event)
        await asyncio.sleep(0.1)
    streaming.close()


def _readiness(engine: Ledgerflow, nc: NatsClient) -> Callable[[], Awaitable[Readiness]]:
    async def probe() -> Readiness:
        try:
            await asyncio.wait_for(asyncio.to_thread(engine.recorder.max_notification_id), 3.0)
        except Exception as error:
            return Readiness(database=False, nats=nc.is_connected, details={"database": str(error)})
        return Readiness(database=True, nats=nc.is_connected)

    return probe


async def _declared(
    nc: NatsClient, subjects: Subjects, ack_waits: AckWaits, stop: asyncio.Event
) -> JetStreamContext:
    """Declare the streams (with the configured ack waits), waiting for JetStream."""
    js = nc.jetstream()
    while True:
        try:
            await declare_streams(js, subjects, ack_waits)
        except Exception as error:
            if stop.is_set():
                raise
            logger.warning("JetStream not ready (%s); retrying", error)
            await asyncio.sleep(STARTUP_RETRY_SECONDS)
        else:
            return js
