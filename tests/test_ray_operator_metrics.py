"""Operators hosted as Ray actors serve their Prometheus metrics, and the results say where.

A negotiation of the default scenario on a local Ray runtime: after every round, each
operator's endpoint (the address its actor reported, recorded in the placement) is scraped over
HTTP, and the requests it says it answered, per method, must equal the calls the coordinator
says it made to it (the coordinator's own endpoint, scraped too): two registries in two
processes counting the same calls from either side.
"""

from __future__ import annotations

import time
import urllib.request
from collections import Counter
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ptn.coordinator.runner import run_loaded_scenario
from ptn.coordinator.runtime.launcher import free_port
from ptn.scenario.document import DEFAULT_SCENARIO, load_scenario

PERIODS = 2


def scrape(url: str) -> dict[str, list[Any]]:
    """Samples by name of the metrics served at ``url``."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode("utf-8")
    samples: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def counts(samples: list[Any], role: str | None = None) -> Counter[tuple[str, str]]:
    """(role, method) -> value summed over the other labels."""
    total: Counter[tuple[str, str]] = Counter()
    for sample in samples:
        if role is None or sample.labels["role"] == role:
            total[sample.labels["role"], sample.labels["method"]] += int(sample.value)
    return total


@pytest.fixture(scope="module")
def ray_run() -> dict[str, Any]:
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    scenario = load_scenario(DEFAULT_SCENARIO, periods=PERIODS)
    placed: dict[str, Any] = {}
    coordinator_port = free_port()
    scrapes: list[dict[str, Any]] = []

    def during_the_run(record: Any) -> None:
        coordinator = scrape(f"http://127.0.0.1:{coordinator_port}/metrics")
        operators = {operator_id: scrape(where["metrics"])
                     for operator_id, where in placed["operators"].items()}
        scrapes.append({"coordinator": coordinator, "operators": operators})

    outcome = run_loaded_scenario(scenario, DEFAULT_SCENARIO, backend="ray", out=None,
                                  metrics_port=coordinator_port, progress=during_the_run,
                                  on_placed=placed.update)
    return {"placement": placed, "scrapes": scrapes, "outcome": outcome,
            "roles": {i: scenario.part(i).role for i in scenario.operator_ids}}


def test_each_operator_actor_serves_its_metrics_where_the_results_say(
        ray_run: dict[str, Any]) -> None:
    operators = ray_run["placement"]["operators"]
    assert set(operators) == set(ray_run["roles"]) == {"dso", "traffic"}
    addresses = {where["metrics"] for where in operators.values()}
    assert len(addresses) == len(operators)  # one endpoint per actor
    for where in operators.values():
        assert where["metrics"].startswith(f"http://{where['ip']}:")
    assert len(ray_run["scrapes"]) >= 2  # scraped during the run, round after round


def test_operator_metrics_count_the_calls_the_coordinator_made(
        ray_run: dict[str, Any]) -> None:
    previous: dict[str, int] = {}
    for taken in ray_run["scrapes"]:
        calls = taken["coordinator"]["ptn_coordinator_call_duration_seconds_count"]
        for operator_id, samples in taken["operators"].items():
            role = ray_run["roles"][operator_id]
            answered = counts(samples["ptn_operator_requests_total"])
            assert answered == counts(calls, role), operator_id
            assert {s.labels["status"] for s in samples["ptn_operator_requests_total"]} == {
                "STATUS_OK"}
            total = sum(answered.values())
            assert total > previous.get(operator_id, 0)  # the counts grow every round
            previous[operator_id] = total
            durations = counts(samples["ptn_operator_request_duration_seconds_count"])
            assert durations == answered


def closed(url: str, within_s: float) -> bool:
    """Whether ``url`` stops answering within ``within_s`` (ray.kill does not wait for the
    actor's process to end)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            scrape(url)
        except OSError:  # refused, or reset while the actor goes
            return True
        time.sleep(0.2)
    return False


def test_the_endpoints_close_with_the_actors(ray_run: dict[str, Any]) -> None:
    for where in ray_run["placement"]["operators"].values():
        assert closed(where["metrics"], within_s=30), where
