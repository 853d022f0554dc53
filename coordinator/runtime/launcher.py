"""Starting operators as their own OS processes (``ptn serve``) and connecting to them.

Why this module exists: the gRPC backend of ``ptn run``, the deployment launcher
(``deploy/launch.py``) and the tests all need "every operator of a scenario as its own process,
healthy, with an endpoint": one implementation. Each process gets only the scenario file and its
role (it reads its own table); ports are chosen by the operating system (``--port 0``), and each
server prints the address it bound, which is read back here.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ptn.coordinator.runtime.transports import GrpcEndpoint
from ptn.engines.errors import InvalidInputError
from ptn.scenario.document import Scenario

SERVING_LINE = re.compile(r"serving (\S+) \((\S+)\) on (\S+):(\d+)")
START_TIMEOUT_S = 90.0


def free_port() -> int:
    """A TCP port free right now on localhost."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class OperatorProcess:
    """One ``ptn serve`` child process."""

    operator_id: str
    role: str
    process: subprocess.Popen[str]
    port: int = 0
    metrics_port: int | None = None
    log_path: Path | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass
class OperatorProcesses:
    """Every operator of a scenario as a child process; a context manager that stops them."""

    scenario_spec: str
    scenario: Scenario
    log_directory: Path | None = None
    metrics: bool = True
    private_root: Path | None = None
    tls_dir: Path | None = None
    verbose: bool = False
    processes: dict[str, OperatorProcess] = field(default_factory=dict)

    def __enter__(self) -> OperatorProcesses:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        for operator_id in self.scenario.operator_ids:
            self.processes[operator_id] = self._spawn(operator_id, port=0)
        for child in self.processes.values():
            child.port = self._read_port(child)

    def _spawn(self, operator_id: str, *, port: int) -> OperatorProcess:
        """Start ``ptn serve`` for one operator on ``port`` (0: any free port)."""
        role = self.scenario.part(operator_id).role
        command = [sys.executable, "-m", "ptn", "serve", role,
                   "--scenario", self.scenario_spec, "--port", str(port),
                   "--host", "127.0.0.1", "--operator-id", operator_id]
        previous = self.processes.get(operator_id)
        metrics_port = previous.metrics_port if previous is not None \
            else (free_port() if self.metrics else None)
        if metrics_port is not None:
            command += ["--metrics-port", str(metrics_port)]
        if self.private_root is not None:
            command += ["--private-out", str(self.private_root / operator_id)]
        if self.tls_dir is not None:
            command += ["--tls-dir", str(self.tls_dir)]
        if self.verbose:
            command.append("--verbose")
        if self.scenario.resampled_periods is not None:
            command += ["--periods", str(self.scenario.resampled_periods)]
        log_path = None
        stderr: IO[str] | int = subprocess.DEVNULL
        if self.log_directory is not None:
            self.log_directory.mkdir(parents=True, exist_ok=True)
            log_path = self.log_directory / f"{operator_id}.log"
            stderr = log_path.open("a" if previous is not None else "w", encoding="utf-8")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr,
                                   text=True, env=env)
        return OperatorProcess(operator_id, role, process, port=port,
                               metrics_port=metrics_port, log_path=log_path)

    def kill(self, operator_id: str) -> None:
        """Kill an operator's process with SIGKILL (fault injection: no goodbye, no flush)."""
        child = self.processes[operator_id]
        child.process.kill()
        child.process.wait()
        if child.process.stdout is not None:
            child.process.stdout.close()

    def restart(self, operator_id: str) -> None:
        """Start a killed (or stopped) operator again on the port it had, with the same private
        folder (its state file), as a supervisor (systemd, Kubernetes) would."""
        child = self.processes[operator_id]
        if child.process.poll() is None:
            raise InvalidInputError(f"operator {operator_id} is still running")
        again = self._spawn(operator_id, port=child.port)
        self.processes[operator_id] = again
        again.port = self._read_port(again)

    def _read_port(self, child: OperatorProcess) -> int:
        deadline = time.monotonic() + START_TIMEOUT_S
        assert child.process.stdout is not None
        lines = []
        while time.monotonic() < deadline:
            line = child.process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip())
            match = SERVING_LINE.search(line)
            if match:
                return int(match.group(4))
        child.process.wait(timeout=5)
        detail = "; ".join(lines[-3:])
        if child.log_path is not None and child.log_path.exists():
            detail = (detail + " " + child.log_path.read_text()[-500:]).strip()
        self.stop()
        raise InvalidInputError(f"operator {child.operator_id} did not start "
                                f"(exit code {child.process.returncode}): {detail}")

    def endpoints(self) -> dict[str, GrpcEndpoint]:
        """gRPC endpoints of the running operators, each waited for until SERVING."""
        endpoints = {}
        for operator_id, child in self.processes.items():
            endpoint = GrpcEndpoint(child.role, operator_id, child.address, self.tls_dir)
            endpoint.wait_until_serving(START_TIMEOUT_S)
            endpoints[operator_id] = endpoint
        return endpoints

    def stop(self) -> None:
        for child in self.processes.values():
            if child.process.poll() is None:
                child.process.terminate()
        for child in self.processes.values():
            try:
                child.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
            if child.process.stdout is not None:
                child.process.stdout.close()
