"""``ptn certs``, two ``ptn serve`` processes over mutual TLS and ``ptn coordinate``: the
negotiation runs with identities checked both ways, and endpoints given the wrong operator's
address end at once in one line naming the operator and the address."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ptn.services.adapters.certificates import make_certificates

SCENARIO = "nguyen-dupuis-ieee33"


@pytest.fixture(scope="module")
def operators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, int]]]:
    """The default scenario's operators as ``ptn serve`` processes over mutual TLS: the
    certificates' folder and each operator's port."""
    certificates = tmp_path_factory.mktemp("certs")
    make_certificates(certificates, ["dso", "traffic"])
    processes, ports = [], {}
    try:
        for role in ("dso", "traffic"):
            process = subprocess.Popen(
                [sys.executable, "-m", "ptn", "serve", role, "--scenario", SCENARIO,
                 "--host", "127.0.0.1", "--port", "0", "--tls-dir", str(certificates / role)],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            processes.append(process)
            assert process.stdout is not None
            match = re.search(r"on 127\.0\.0\.1:(\d+)", process.stdout.readline())
            assert match, f"{role} did not start"
            ports[role] = int(match.group(1))
        yield certificates, ports
    finally:
        for process in processes:
            process.terminate()
            process.wait(30)


def coordinate(certificates: Path, endpoints: dict[str, int], out: Path) -> \
        subprocess.CompletedProcess[str]:
    arguments = [f"--endpoint={role}=127.0.0.1:{port}" for role, port in endpoints.items()]
    return subprocess.run(
        [sys.executable, "-m", "ptn", "coordinate", "--scenario", SCENARIO, *arguments,
         "--tls-dir", str(certificates / "coordinator"), "--out", str(out), "--json",
         "--quiet"],  # no progress lines on stderr: a refusal is its one line
        capture_output=True, text=True, timeout=600)


def test_coordinate_over_mutual_tls(operators: tuple[Path, dict[str, int]],
                                    tmp_path: Path) -> None:
    certificates, ports = operators
    result = coordinate(certificates, ports, tmp_path / "res")
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert summary["status"] == "converged"


def test_coordinate_refuses_an_operator_with_another_operators_certificate(
        operators: tuple[Path, dict[str, int]], tmp_path: Path) -> None:
    certificates, ports = operators
    swapped = {"dso": ports["traffic"], "traffic": ports["dso"]}
    started = time.monotonic()
    result = coordinate(certificates, swapped, tmp_path / "res")
    # refused at once (not after [coordinator] operator_wait_s, 300 s), before negotiating
    assert time.monotonic() - started < 60
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert f"the certificate at 127.0.0.1:{ports['traffic']} is not operator dso's" in line
    assert not (tmp_path / "res" / "summary.json").exists()
