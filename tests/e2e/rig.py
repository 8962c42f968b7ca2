"""A deployment of separate Ledgerflow processes on the session's servers, each killable alone."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from ops.embedded import free_port
from ops.migrate import migrate
from ops.settings import Settings

HANG = 90.0
"""Bound for waits in end-to-end tests: a hang detector, never a performance assertion."""

TERMINAL = {"succeeded", "failed", "cancelled"}


def wait_for(condition: Callable[[], bool], failure: str, within: float = HANG) -> None:
    """Wait until `condition` holds; the bound only detects hangs."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.1)


class Deployment:
    """`ledgerflow api`, `engine` and `worker` processes sharing one schema and NATS prefix."""

    def __init__(self, settings: Settings, logs: Path, **env: str) -> None:
        self.settings = settings
        self.logs = logs
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "LEDGERFLOW_DATABASE_URL": str(settings.database_url),
            "LEDGERFLOW_NATS_URL": str(settings.nats_url),
            "LEDGERFLOW_DATABASE_SCHEMA": settings.schema,
            "LEDGERFLOW_NATS_PREFIX": settings.nats_prefix,
            "LEDGERFLOW_PORT": str(self.port),
            "LEDGERFLOW_POOL_SIZE": "6",
            **env,
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.commands: dict[str, tuple[list[str], dict[str, str]]] = {}
        """How each process was started, so `restart` can start it again alike."""
        self.http = httpx.Client(base_url=self.url, timeout=10.0)

    def start(self, *workers: str) -> "Deployment":
        migrate(self.settings)
        self.spawn("api", "api")
        self.spawn("engine", "engine")
        for name in workers:
            self.start_worker(name)
        self.wait_ready()
        return self

    def start_worker(self, name: str, *args: str, **env: str) -> None:
        self.spawn(name, "worker", "--name", name, *args, **env)

    def spawn(self, key: str, command: str, *args: str, **env: str) -> None:
        self.commands[key] = ([command, *args], env)
        with (self.logs / f"{key}.log").open("ab") as log:
            self.processes[key] = subprocess.Popen(
                [sys.executable, "-m", "ops.cli", command, *args],
                env={**self.env, **env},
                stdout=log,
                stderr=log,
            )

    def kill(self, key: str, signum: int = signal.SIGKILL) -> None:
        process = self.processes.pop(key)
        process.send_signal(signal.SIGCONT)  # a paused process handles nothing else
        process.send_signal(signum)
        process.wait(timeout=HANG)

    def pause(self, key: str) -> None:
        self.processes[key].send_signal(signal.SIGSTOP)

    def resume(self, key: str) -> None:
        self.processes[key].send_signal(signal.SIGCONT)

    def restart(self, key: str, signum: int = signal.SIGKILL, **env: str) -> None:
        """Stop `key` (if it runs) and start it again as before, `env` overriding its own."""
        if key in self.processes:
            self.kill(key, signum)
        (command, *args), own_env = self.commands[key]
        self.spawn(key, command, *args, **{**own_env, **env})

    def exited(self) -> dict[str, int]:
        """The processes that ended on their own, with their exit status."""
        codes = {key: process.poll() for key, process in self.processes.items()}
        return {key: code for key, code in codes.items() if code is not None}

    def stop(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGCONT)
            process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
        self.http.close()

    def log(self, key: str) -> str:
        return (self.logs / f"{key}.log").read_text(errors="replace")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + HANG
        while True:
            try:
                if self.http.get("/health/ready").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            exited = [key for key, p in self.processes.items() if p.poll() is not None]
            if exited or time.monotonic() > deadline:
                logs = "\n".join(f"--- {key}\n{self.log(key)[-3000:]}" for key in self.processes)
                raise TimeoutError(f"not ready (exited: {exited}):\n{logs}")
            time.sleep(0.1)

    # What tests do through the API

    def apply(self, name: str, tasks: list[dict[str, Any]], **fields: Any) -> None:
        body = {"name": name, "tasks": tasks, **fields}
        self.http.put(f"/v1/workflows/{name}", json=body).raise_for_status()

    def start_run(self, workflow: str, inputs: dict[str, Any] | None = None) -> str:
        response = self.http.post(f"/v1/workflows/{workflow}/runs", json={"inputs": inputs or {}})
        response.raise_for_status()
        return str(response.json()["id"])

    def run(self, run_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v1/runs/{run_id}")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def wait_until(self, run_id: str, *statuses: str, within: float = HANG) -> dict[str, Any]:
        """The run once its status is one of `statuses` (terminal by default)."""
        wanted = set(statuses) or TERMINAL
        deadline = time.monotonic() + within
        while (run := self.run(run_id))["status"] not in wanted:
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} stuck in {run['status']}: {run}")
            time.sleep(0.1)
        return run

    def wait_for_task(self, run_id: str, task: str, status: str) -> dict[str, Any]:
        deadline = time.monotonic() + HANG
        while True:
            run = self.run(run_id)
            state = next(t for t in run["tasks"] if t["name"] == task)
            if state["status"] == status:
                return dict(state)
            if time.monotonic() > deadline:
                raise TimeoutError(f"task {task} of run {run_id} stuck: {state}")
            time.sleep(0.05)

    def workers(self) -> dict[str, str]:
        """Each worker the engine has heard of, with its status."""
        items = self.http.get("/v1/workers").json()["items"]
        return {worker["name"]: worker["status"] for worker in items}

    def history(self, run_id: str) -> list[dict[str, Any]]:
        response = self.http.get(f"/v1/runs/{run_id}/events", params={"limit": 500})
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["items"]
        return items
