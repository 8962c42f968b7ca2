"""The fault rig: PostgreSQL (on TCP) and nats-server of its own, proxies between components,
`ledgerflow api`, two engines and two workers as separate processes, and a summary of it all.

    workers ──worker-nats proxy──▶ nats-server ◀── engines, api
    engines ──engine-pg proxy──▶ PostgreSQL ◀──api-pg proxy── api
"""

import os
import signal
import time
from pathlib import Path

from engine.crash_points import CRASH_EXIT_STATUS
from ops.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from ops.migrate import migrate
from ops.settings import Settings
from tests.e2e.rig import HANG, TERMINAL, Deployment, wait_for
from tests.faults.checker import Findings, check
from tests.faults.client import REQUEST_TIMEOUT_SECONDS, RequestLog, WorkloadClient
from tests.faults.executions import LEDGER_SCHEMA_VARIABLE, LEDGER_URL_VARIABLE, create_table
from tests.faults.proxy import PASS, Proxy
from tests.faults.summary import Summary
from tests.faults.workload import CRON, WORKFLOWS

ENGINES = ("engine1", "engine2")
WORKERS = ("w1", "w2")
SCHEMA = "faults"
INJECTED_EXITS = {CRASH_EXIT_STATUS, -signal.SIGKILL, -signal.SIGTERM}
"""How processes end when a scenario ends them; any other exit is a crash of their own."""
REPOSITORY = Path(__file__).resolve().parents[2]
ACK_WAIT_SECONDS = 3
"""The dispatch and results consumers' ack wait: a message unacked by a process that died
comes back after this, not after the production default of 30 s."""
RECONCILE_AFTER_SECONDS = 5
"""How long an attempt stays queued before its dispatch is published again (production: 60 s),
so a dispatch NATS lost is re-sent within a scenario's time."""
PROCESS_ENV = {
    # A silent worker is declared lost after 3 missed beats: seconds, yet not so few that a
    # worker starved of CPU on a busy 2-core machine is taken for dead.
    "LEDGERFLOW_HEARTBEAT_SECONDS": "2",
    "LEDGERFLOW_DISPATCH_ACK_WAIT_SECONDS": str(ACK_WAIT_SECONDS),
    "LEDGERFLOW_RESULTS_ACK_WAIT_SECONDS": str(ACK_WAIT_SECONDS),
    "LEDGERFLOW_RECONCILE_AFTER_SECONDS": str(RECONCILE_AFTER_SECONDS),
    "LEDGERFLOW_WORKER_DRAIN_GRACE": "5",
    "LEDGERFLOW_LOG_LEVEL": "info",
    # The python tasks import tests.faults.tasks from the repository, wherever pytest runs.
    "PYTHONPATH": str(REPOSITORY),
}
WORKER_EXECUTORS = "noop,python,shell"
"""Not `http`: a task of that executor is a dispatch no worker of the rig can run (a poison)."""


class FaultRig:
    """Everything one session of fault scenarios shares; `heal` undoes what a scenario broke."""

    def __init__(self, root: Path, summary: Summary) -> None:
        self.root = root
        self.summary = summary
        self.postgres = EmbeddedPostgres(
            root / "pg", tcp_port=free_port(), settings={"max_connections": "300"}
        )
        self.nats = EmbeddedNats(root / "nats")
        self.settings = Settings(
            database_url=self.postgres.url,
            nats_url=self.nats.url,
            schema=SCHEMA,
            nats_prefix=SCHEMA,
            worker_name="unused",
        )
        pg = ("127.0.0.1", self.postgres.port)
        nats = ("127.0.0.1", self.nats.port)
        self.proxies = {
            # One per worker, so one can be cut off while the other serves.
            **{f"{w}-nats": Proxy(f"{w}-nats", nats, seed=n) for n, w in enumerate(WORKERS)},
            "engine-pg": Proxy("engine-pg", pg, seed=8),
            "api-pg": Proxy("api-pg", pg, seed=9),
        }
        env = {
            **PROCESS_ENV,
            LEDGER_URL_VARIABLE: self.postgres.url,
            LEDGER_SCHEMA_VARIABLE: SCHEMA,
        }
        self.deployment = Deployment(self.settings, root, **env)
        self._duplicate_executions = 0
        """Attempts run more than once, as of the last check (the side table is cumulative)."""
        self._parked_through = 0
        """The parked stream's sequence the last check read up to (it is cumulative too)."""
        self.exits: list[tuple[str, int]] = []
        """Processes that ended by themselves since the last check, with their status."""
        self._healed_logs: dict[str, int] = {}
        """How much each engine had logged when the rig was last healed."""

    def start(self) -> "FaultRig":
        self.postgres.start()
        self.nats.start()
        for proxy in self.proxies.values():
            proxy.start()
        migrate(self.settings)
        create_table(self.postgres.url, SCHEMA)
        deployment = self.deployment
        deployment.spawn("api", "api", LEDGERFLOW_DATABASE_URL=self._via("api-pg"))
        for engine in ENGINES:
            deployment.spawn(engine, "engine", LEDGERFLOW_DATABASE_URL=self._via("engine-pg"))
        for worker in WORKERS:
            nats = f"nats://127.0.0.1:{self.proxies[f'{worker}-nats'].port}"
            deployment.spawn(
                worker,
                "worker",
                "--name",
                worker,
                LEDGERFLOW_NATS_URL=nats,
                LEDGERFLOW_WORKER_EXECUTORS=WORKER_EXECUTORS,
            )
        deployment.wait_ready()
        for name, tasks in WORKFLOWS.items():
            deployment.apply(name, tasks, **({"schedule": CRON[name]} if name in CRON else {}))
        self.wait_for_workers()
        return self

    def stop(self) -> None:
        self.deployment.stop()
        for proxy in self.proxies.values():
            proxy.stop()
        self.nats.stop()
        self.postgres.stop()

    def _via(self, proxy: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.proxies[proxy].port}/postgres"

    def client(self, log: RequestLog, timeout: float = REQUEST_TIMEOUT_SECONDS) -> WorkloadClient:
        return WorkloadClient(self.deployment.url, log, timeout)

    # Faults and healing

    def fault(self, kind: str) -> None:
        """Count a fault injected (for the summary)."""
        self.summary.fault(kind)

    def heal(self) -> float:
        """Undo every fault: links pass, servers and processes run, none paused, none armed
        with a crash point; returns the monotonic time the rig was whole again."""
        for proxy in self.proxies.values():
            if proxy.link.dropped:
                # The bytes dropped left a gap in each stream: as after a long real partition,
                # the connections are gone and the clients reconnect.
                proxy.reset()
            proxy.set(PASS)
        self.postgres.start()  # a no-op while it runs
        self.nats.start()
        deployment = self.deployment
        self._healed_logs = {engine: len(deployment.log(engine)) for engine in ENGINES}
        self.revive()
        for key in deployment.processes:
            deployment.resume(key)
        deployment.wait_ready()
        return time.monotonic()

    def revive(self) -> None:
        """Start again every process that ended, as a supervisor would, noting how it ended."""
        deployment = self.deployment
        for key in list(deployment.commands):
            process = deployment.processes.pop(key, None)
            if process is not None and process.poll() is None:
                deployment.processes[key] = process
                continue
            if process is not None:  # None: a scenario ended it on purpose
                self.exits.append((key, process.returncode))
            deployment.restart(key, LEDGERFLOW_CRASH_POINTS="")

    def stop_nats(self, signum: int) -> None:
        """Stop nats-server with `signum` (SIGKILL: no shutdown at all); `heal` starts it."""
        process = self.nats._process  # EmbeddedNats stops only gracefully; the kill is ours
        assert process is not None
        process.send_signal(signum)
        process.wait(timeout=HANG)
        self.nats._process = None

    def truncate_newest_block(self, stream: str) -> None:
        """With nats-server stopped, cut the newest block file of `stream` in half, as a
        power loss does to writes not yet synced."""
        assert self.nats._process is None, "nats-server must be stopped first"
        messages = self.nats.store_dir / "jetstream" / "$G" / "streams" / stream / "msgs"
        blocks = sorted(messages.glob("*.blk"), key=lambda path: int(path.stem))
        assert blocks, f"no block file of {stream} in {messages}"
        os.truncate(blocks[-1], blocks[-1].stat().st_size // 2)

    def stop_postgres(self) -> None:
        """Immediate shutdown (SIGQUIT: no checkpoint, crash recovery at the next start), as
        close to a crash as PostgreSQL allows; `heal` starts it."""
        process = self.postgres._process  # EmbeddedPostgres stops only fast; immediate is ours
        assert process is not None
        process.send_signal(signal.SIGQUIT)
        process.wait(timeout=HANG)
        self.postgres._process = None

    def wait_for_workers(self) -> None:
        wait_for(
            lambda: all(self.deployment.workers().get(w) == "registered" for w in WORKERS),
            f"workers never all registered: {self.deployment.workers()}",
        )

    def recovered(self, kind: str, healed_at: float, client: WorkloadClient) -> float:
        """Submit a probe run and wait for its end: seconds from healing to a finished run."""
        run_id = client.submit_until_accepted("fault-chain", {"probe": kind}, within=HANG)
        assert run_id is not None, f"no run accepted within {HANG} s after healing {kind}"
        self.settle([run_id])
        seconds = time.monotonic() - healed_at
        self.summary.recovered(kind, seconds)
        return seconds

    def settle(self, run_ids: list[str], within: float = HANG, *, supervise: bool = False) -> None:
        """Wait until every run is terminal (a hang detector: their states are in the error);
        `supervise`: meanwhile, restart processes that die (tasks that crash their worker)."""
        deadline = time.monotonic() + within
        pending = list(run_ids)
        while pending:
            if supervise:
                self.revive()
            pending = [r for r in pending if self._status(r) not in TERMINAL]
            if pending and time.monotonic() > deadline:
                states = {r: self._status(r) for r in pending[:10]}
                raise AssertionError(f"{len(pending)} runs not terminal after {within} s: {states}")
            time.sleep(0.2)

    def running_on(self, worker: str, run_ids: list[str]) -> tuple[str, str]:
        """Wait until one of the runs has a task running on `worker`: (run id, task)."""
        found: list[tuple[str, str]] = []

        def running() -> bool:
            for run_id in run_ids:
                for task in self.deployment.run(run_id)["tasks"]:
                    if task["status"] == "running" and task["worker"] == worker:
                        found.append((run_id, task["name"]))
                        return True
            return False

        wait_for(running, f"no task of {run_ids} ever ran on {worker}")
        return found[0]

    def wait_for_exit(self, key: str) -> int:
        """Wait until process `key` ends (a crash point or a task took it down): its status."""
        wait_for(lambda: key in self.deployment.exited(), f"{key} never exited")
        return self.deployment.exited()[key]

    def engines_log(self, text: str) -> None:
        """Wait until an engine has logged `text` since the rig was last healed."""
        wait_for(
            lambda: any(
                text in self.deployment.log(engine)[self._healed_logs.get(engine, 0) :]
                for engine in ENGINES
            ),
            f"no engine logged {text!r} since the last heal",
        )

    def _status(self, run_id: str) -> str:
        response = self.deployment.http.get(f"/v1/runs/{run_id}")
        return str(response.json()["status"]) if response.is_success else "unreadable"

    def check(self, scenario: str, requests: RequestLog) -> Findings:
        """Run the offline checker, add it to the summary, fail naming what broke."""
        findings = check(
            self.settings, self.postgres.url, requests, parked_after=self._parked_through
        )
        self._parked_through = findings.parked_through
        exits, self.exits = [*self.exits, *self.deployment.exited().items()], []
        findings.crashes = [
            f"{key} exited with status {code} on its own (see {self.root / key}.log)"
            for key, code in exits
            if code not in INJECTED_EXITS
        ]
        findings.duplicate_executions -= self._duplicate_executions
        self._duplicate_executions += findings.duplicate_executions
        self.summary.checked(scenario, findings)
        assert not findings.broken, "\n".join(findings.broken[:50])
        return findings
