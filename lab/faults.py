"""Fault injection for experiments: a negotiation whose operator processes are killed and restarted.

Why this module exists: ptn promises that an operator killed at any round (SIGKILL: no goodbye,
no flush) and restarted on its port by its supervisor leaves the negotiation's numbers as they
were. The tests (``tests/coordinator/runtime/test_operator_restarts.py``) and the fault sweep
(``bench/faults.py``, reported in docs/reliability.md) check it the same way: every operator
runs as its own ``ptn serve`` process with its private folder (its state file); after the k-th
round record (or a few milliseconds into the next round, inside or between its calls) an
operator is killed, and a timer starts it again on the same port a moment later, as systemd or
Kubernetes would. The coordinator runs in this process, as ``ptn coordinate`` would.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptn.coordinator.outcome import RoundRecord
from ptn.coordinator.runner import negotiate
from ptn.coordinator.runtime.launcher import OperatorProcesses
from ptn.scenario.document import Scenario

#: how long a killed operator stays down before its supervisor starts it again (s)
RESTART_AFTER_S = 1.0
#: a "mid-round" kill comes this long after the previous round's record (s)
MID_ROUND_DELAY_S = 0.02


@dataclass(frozen=True)
class Kill:
    """Kill ``operator_id`` right after the ``after_record``-th round record, or (``mid_round``)
    a moment after it, while the next round's calls run."""

    after_record: int
    operator_id: str
    mid_round: bool = False


@dataclass
class FaultRun:
    """A negotiation with killed operators: its outcome and what the coordinator saw."""

    outcome: Any
    seconds: float
    #: the transcript's failure entries (operator, reason, detail, ...)
    failures: list[dict[str, Any]] = field(default_factory=list)
    #: per killed operator, whether its log says it restored its state on restart
    restored: dict[str, bool] = field(default_factory=dict)


def negotiate_with_kills(scenario: Scenario, folder: Path, kills: list[Kill], *,
                         restart_after_s: float = RESTART_AFTER_S) -> FaultRun:
    """The scenario's negotiation over operator processes, killed and restarted as ``kills``
    say; the processes, logs, private folders and the coordinator's results go to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "scenario.toml"
    path.write_text(scenario.text, encoding="utf-8")
    timers: list[threading.Timer] = []
    started = time.perf_counter()
    with OperatorProcesses(str(path), scenario, log_directory=folder / "logs",
                           private_root=folder / "private", metrics=False,
                           verbose=True) as processes:

        def kill_and_restart(operator_id: str) -> None:
            processes.kill(operator_id)
            timer = threading.Timer(restart_after_s, processes.restart, args=(operator_id,))
            timer.start()
            timers.append(timer)

        records = [0]

        def progress(record: RoundRecord) -> None:
            records[0] += 1
            for kill in kills:
                if kill.after_record != records[0]:
                    continue
                if kill.mid_round:
                    timer = threading.Timer(MID_ROUND_DELAY_S, kill_and_restart,
                                            args=(kill.operator_id,))
                    timer.start()
                    timers.append(timer)
                else:
                    kill_and_restart(kill.operator_id)

        endpoints = processes.endpoints()
        try:
            outcome = negotiate(scenario, dict(endpoints), out=folder / "run",
                                progress=progress)
        finally:
            while timers:  # a timer may add the restart's timer: join until none is left
                timers.pop(0).join()
            for endpoint in endpoints.values():
                endpoint.close()
    run = FaultRun(outcome, time.perf_counter() - started)
    transcript = folder / "run" / "transcript.jsonl"
    if transcript.exists():
        with transcript.open(encoding="utf-8") as lines:
            run.failures = [entry for entry in map(json.loads, lines)
                            if entry["direction"] == "failure"]
    for operator_id in {kill.operator_id for kill in kills}:
        log = folder / "logs" / f"{operator_id}.log"
        run.restored[operator_id] = log.exists() and "restored its state" in log.read_text(
            encoding="utf-8")
    return run
