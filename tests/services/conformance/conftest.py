"""The conformance battery's hosts: one per role and transport for the session, fresh ones on
demand, and one Ray runtime for the whole session (started here unless one is running)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from ptn.coordinator.runtime.backends import start_ray
from ptn.coordinator.runtime.transports import Endpoint
from tests.support.operators import TRANSPORTS, Hosts, operator_part


@pytest.fixture(scope="session")
def ray_runtime() -> Iterator[None]:
    import ray

    started = not ray.is_initialized()
    start_ray()
    yield
    if started:
        ray.shutdown()


@pytest.fixture(scope="session", params=TRANSPORTS)
def hosts(request: pytest.FixtureRequest) -> Iterator[Hosts]:
    """Where operators are hosted: in this process, as Ray actors, behind a gRPC server."""
    if request.param == "ray":
        request.getfixturevalue("ray_runtime")
    started = Hosts(request.param)
    yield started
    started.close()


@pytest.fixture(scope="session")
def shared(hosts: Hosts) -> Callable[[str], Endpoint]:
    """The role's operator under test on the transport, built once and shared by the tests
    (their request ids are unique, and none depends on the state another leaves)."""
    endpoints: dict[str, Endpoint] = {}

    def endpoint(role: str) -> Endpoint:
        if role not in endpoints:
            endpoints[role] = hosts.host(operator_part(role))
        return endpoints[role]

    return endpoint


@pytest.fixture
def new_id() -> Callable[[], str]:
    """Unique request ids (the shared hosts remember every id they answered)."""
    return lambda: uuid.uuid4().hex
