#!/usr/bin/env python3
"""Launch a scenario as separate OS processes: every operator (``ptn serve``) plus the
coordinator (``ptn coordinate``), then stop the operators.

    python deploy/launch.py [--scenario S] [--out DIR] [--metrics] [--reference]

Each operator process is started with the scenario and its role only (it reads its own table),
on a port chosen by the operating system; the launcher waits until each reports SERVING on the
gRPC health service, then runs the coordinator as its own process against their addresses and
returns its exit code. Operator logs go to ``OUT/logs/<operator>.log``, the coordinator's output
to ``OUT/logs/coordinator.log`` as well as to the terminal.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from ptn.coordinator.runner import results_folder
from ptn.coordinator.runtime.launcher import OperatorProcesses, free_port
from ptn.engines.errors import InvalidInputError
from ptn.scenario.document import DEFAULT_SCENARIO, load_scenario


def launch(scenario_spec: str, out: Path | None = None, *, metrics: bool = True,
           reference: bool = False) -> int:
    """Run the scenario with one process per operator and one for the coordinator."""
    scenario = load_scenario(scenario_spec)
    out = results_folder(scenario, out)
    logs = out / "logs"
    with OperatorProcesses(scenario_spec, scenario, log_directory=logs, metrics=metrics,
                           private_root=out / "operators") as operators:
        for endpoint in operators.endpoints().values():
            endpoint.close()
        command = [sys.executable, "-m", "ptn", "coordinate",
                   "--scenario", scenario_spec, "--out", str(out)]
        for operator_id, child in operators.processes.items():
            command += ["--endpoint", f"{operator_id}={child.address}"]
        if metrics:
            command += ["--metrics-port", str(free_port())]
        if reference:
            command.append("--reference")
        logs.mkdir(parents=True, exist_ok=True)
        with (logs / "coordinator.log").open("w", encoding="utf-8") as log:
            finished = subprocess.run(command, capture_output=True, text=True, check=False)
            log.write(finished.stdout + finished.stderr)
        sys.stdout.write(finished.stdout)
        sys.stderr.write(finished.stderr)
        return finished.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=DEFAULT_SCENARIO,
                        help="scenario file or built-in name")
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    parser.add_argument("--no-metrics", action="store_true",
                        help="do not serve Prometheus metrics")
    parser.add_argument("--reference", action="store_true",
                        help="also solve the centralized reference in the coordinator")
    arguments = parser.parse_args(argv)
    try:
        return launch(arguments.scenario, arguments.out, metrics=not arguments.no_metrics,
                      reference=arguments.reference)
    except InvalidInputError as error:
        print(f"launch: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
