"""Probe workers end with the operator that spawned them, even one killed outright.

A SIGKILL (the kernel's OOM killer) gives the operator no chance to stop its pool; each worker
holds a copy of the network, and on the city four of them (~900 MB each) stayed behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

SCRIPT = """
import numpy as np
from ptn.engines.traffic.probe_pool import ProbePool, ProbeSolve
from ptn.scenario.document import load_scenario
from ptn.services.traffic.model import TrafficDepartmentModel

model = TrafficDepartmentModel.from_part(load_scenario("pricing-seed001").part("traffic"))
problem = model.problem
price = np.full((len(model.stations), model.periods), 200.0)
pool = ProbePool(problem, 2)
pool.solve([ProbeSolve(price + k, None, 1e-8, 1000) for k in range(2)])
print(*pool._pool.executor._processes, flush=True)
input()
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie has not been reaped yet but is gone
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_workers_end_when_their_operator_is_killed() -> None:
    operator = subprocess.Popen([sys.executable, "-c", SCRIPT], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
    try:
        assert operator.stdout is not None
        workers = [int(pid) for pid in operator.stdout.readline().split()]
        assert len(workers) == 2 and all(alive(pid) for pid in workers)
        operator.send_signal(signal.SIGKILL)
        operator.wait(timeout=30)
        deadline = time.monotonic() + 30.0
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(alive(pid) for pid in workers)
    finally:
        if operator.poll() is None:
            operator.kill()
