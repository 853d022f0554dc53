"""A local Ray start whose GCS misses ray.init's wait is tried once more; a cluster is not.
Without an address (or $RAY_ADDRESS) the runtime is the process's own ("local"), never a
cluster someone else started on the machine."""

from __future__ import annotations

import pytest
import ray

from ptn.coordinator.runtime import backends

GCS_TIMEOUT = "Timed out waiting for file /tmp/ray/session_x/gcs_server_port_y"
#: what ray/_private/node.py raises (a bare Exception) when the raylet misses its start-up wait
RAYLET_TIMEOUT = "The current node timed out during startup."


class FlakyInit:
    """ray.init that times out ``failures`` times, then succeeds; records its calls."""

    def __init__(self, failures: int, error: type[Exception] = RuntimeError,
                 message: str = GCS_TIMEOUT) -> None:
        self.failures = failures
        self.error = error
        self.message = message
        self.calls: list[dict[str, object]] = []
        self.shutdowns = 0

    def init(self, **kwargs: object) -> None:
        self.calls.append(kwargs)
        if len(self.calls) <= self.failures:
            raise self.error(self.message)

    def shutdown(self) -> None:
        self.shutdowns += 1


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> FlakyInit:
    failures, error, message = (request.param if isinstance(request.param, tuple)
                                else (request.param, RuntimeError, GCS_TIMEOUT))
    fake = FlakyInit(failures, error, message)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", fake.init)
    monkeypatch.setattr(ray, "shutdown", fake.shutdown)
    return fake


@pytest.mark.parametrize("flaky", [1], indirect=True)
def test_a_local_start_that_times_out_is_tried_again(flaky: FlakyInit) -> None:
    backends.start_ray()
    assert len(flaky.calls) == 2 and flaky.shutdowns == 1
    assert flaky.calls[1]["address"] == "local"


@pytest.mark.parametrize("flaky", [backends.LOCAL_RAY_START_ATTEMPTS], indirect=True)
def test_a_local_start_gives_up_after_its_attempts(flaky: FlakyInit) -> None:
    with pytest.raises(RuntimeError, match="Timed out waiting"):
        backends.start_ray()
    assert len(flaky.calls) == backends.LOCAL_RAY_START_ATTEMPTS


@pytest.mark.parametrize("flaky", [1], indirect=True)
def test_joining_a_cluster_is_not_retried(flaky: FlakyInit) -> None:
    with pytest.raises(RuntimeError, match="Timed out waiting"):
        backends.start_ray("10.0.0.1:6379")
    assert flaky.calls == [{"include_dashboard": False, "log_to_driver": False,
                            "configure_logging": False, "address": "10.0.0.1:6379"}]


@pytest.mark.parametrize("flaky", [(1, Exception, RAYLET_TIMEOUT)], indirect=True)
def test_a_raylet_start_up_timeout_is_tried_again(flaky: FlakyInit) -> None:
    backends.start_ray()
    assert len(flaky.calls) == 2 and flaky.shutdowns == 1


@pytest.mark.parametrize("flaky", [0], indirect=True)
def test_without_an_address_the_runtime_is_the_process_own(flaky: FlakyInit) -> None:
    backends.start_ray()
    assert flaky.calls == [{"include_dashboard": False, "log_to_driver": False,
                            "configure_logging": False, "address": "local"}]


@pytest.mark.parametrize("flaky", [1], indirect=True)
def test_ray_address_in_the_environment_is_joined_and_not_retried(
        flaky: FlakyInit, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.2:6379")
    with pytest.raises(RuntimeError, match="Timed out waiting"):
        backends.start_ray()
    assert [call["address"] for call in flaky.calls] == ["10.0.0.2:6379"]
    assert backends.ray_init_address("10.0.0.3:6379") == "10.0.0.3:6379"  # the flag wins
