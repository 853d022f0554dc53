"""An operator's ``state.json``: written atomically when the state changes, restored only for
the same negotiation (by the base of its id), refused when damaged or another operator's.

Checked with the profit-sharing scenario's TNO (two periods), whose payments received are state
that no reply shows: a host keeps them in its private folder after a payment, not after a
``Describe``; a new host on the folder restores them before the first request of the same run
(``<run>/<part>`` ids share the base ``<run>``) and discards them for another run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ptn.coordinator.runtime.transports import InProcessEndpoint
from ptn.engines.errors import InvalidInputError
from ptn.protocol.v1 import common_pb2, games_pb2
from ptn.services.host import OperatorHost
from ptn.services.hosting import build_host
from ptn.services.refusal import RequestRefusedError
from ptn.services.state import STATE_FILE, STATE_FORMAT, negotiation_base
from tests.support.operators import describe_request, header, operator_part

TIMEOUT_S = 60.0


def tno_host(directory: Path) -> tuple[OperatorHost, InProcessEndpoint]:
    host = build_host(operator_part("tno"), directory)
    return host, InProcessEndpoint(host)


def settle(endpoint: InProcessEndpoint, request_id: str, negotiation: str,
           amount: float) -> None:
    reply = endpoint.call("Settle", games_pb2.Settlement(
        header=header("tno", request_id, negotiation), amount=amount), TIMEOUT_S)
    assert reply.header.status == common_pb2.STATUS_OK, reply.header.message


def describe(endpoint: InProcessEndpoint, request_id: str, negotiation: str) -> None:
    reply = endpoint.call("Describe", describe_request("tno", request_id, negotiation),
                          TIMEOUT_S)
    assert reply.header.status == common_pb2.STATUS_OK, reply.header.message


def test_the_base_of_a_negotiation_id_is_its_run() -> None:
    assert negotiation_base("3fa2c1/nash") == "3fa2c1"
    assert negotiation_base("3fa2c1/share/0.25") == "3fa2c1"
    assert negotiation_base("3fa2c1") == "3fa2c1"


def test_the_state_is_written_when_it_changes_and_only_then(tmp_path: Path) -> None:
    _, endpoint = tno_host(tmp_path)
    path = tmp_path / STATE_FILE
    describe(endpoint, "d1", "run1/a")
    assert not path.exists()  # nothing changed
    settle(endpoint, "s1", "run1/a", 5.0)
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert (saved["format"], saved["role"], saved["operator_id"], saved["negotiation_id"]) == \
        (STATE_FORMAT, "tno", "tno", "run1/a")
    assert saved["model"]["received_usd"] == 5.0
    written = path.stat().st_mtime_ns, path.read_bytes()
    describe(endpoint, "d2", "run1/a")
    assert (path.stat().st_mtime_ns, path.read_bytes()) == written
    assert sorted(p.name for p in tmp_path.iterdir()) == [STATE_FILE]  # no temporary left


def test_a_new_host_restores_the_same_run_and_discards_another(tmp_path: Path) -> None:
    _, first = tno_host(tmp_path)
    settle(first, "s1", "run1/nash", 5.0)
    # the same run (another part of it): restored before its first request
    same, endpoint = tno_host(tmp_path)
    describe(endpoint, "d1", "run1/cooperative")
    assert same.model.received_usd == 5.0  # type: ignore[attr-defined]
    settle(endpoint, "s2", "run1/cooperative", 2.0)
    assert same.model.received_usd == 7.0  # type: ignore[attr-defined]
    # another run: the saved state is discarded, and replaced once the state changes
    other, endpoint = tno_host(tmp_path)
    describe(endpoint, "d1", "run2")
    assert other.model.received_usd == 0.0  # type: ignore[attr-defined]
    settle(endpoint, "s1", "run2", 1.0)
    saved = json.loads((tmp_path / STATE_FILE).read_text(encoding="utf-8"))
    assert (saved["negotiation_id"], saved["model"]["received_usd"]) == ("run2", 1.0)
    # the decision is taken once: a later request of the first run is refused (the host
    # serves run2) and restores nothing
    with pytest.raises(RequestRefusedError, match="serves negotiation 'run2'"):
        other.handle("Describe", describe_request("tno", "d2", "run1/nash").SerializeToString())
    assert other.model.received_usd == 1.0  # type: ignore[attr-defined]


def test_refusals_before_the_first_request_do_not_decide(tmp_path: Path) -> None:
    _, first = tno_host(tmp_path)
    settle(first, "s1", "run1", 5.0)
    host, endpoint = tno_host(tmp_path)
    refused = endpoint.call("Describe", describe_request("someone-else", "x", "run9"),
                            TIMEOUT_S)
    assert refused.header.status == common_pb2.STATUS_INVALID_REQUEST
    describe(endpoint, "d1", "run1")
    assert host.model.received_usd == 5.0  # type: ignore[attr-defined]


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "not the operator's state (invalid JSON"),
    ('{"format": "something else"}', f"not an operator state of format {STATE_FORMAT}"),
    (json.dumps({"format": STATE_FORMAT, "role": "dso", "operator_id": "dso",
                 "negotiation_id": "run1", "model": {}}),
     "the state of 'dso' (dso), this is 'tno' (tno)"),
])
def test_a_damaged_or_foreign_state_is_refused_naming_the_file(
        tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / STATE_FILE).write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInputError) as error:
        tno_host(tmp_path)
    assert str(tmp_path / STATE_FILE) in str(error.value) and message in str(error.value)


def test_an_unusable_model_state_fails_the_first_request_naming_the_file(
        tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text(json.dumps({
        "format": STATE_FORMAT, "role": "tno", "operator_id": "tno", "negotiation_id": "run1",
        "model": {"last_plan": None, "received_usd": "plenty"}}), encoding="utf-8")
    host, endpoint = tno_host(tmp_path)
    reply = endpoint.call("Describe", describe_request("tno", "d1", "run1"), TIMEOUT_S)
    assert reply.header.status == common_pb2.STATUS_FAILED
    assert f"cannot restore the operator's state from {tmp_path / STATE_FILE}" \
        in reply.header.message
    assert "received_usd: expected a finite number, got 'plenty'" in reply.header.message
    describe(endpoint, "d2", "run1")  # the host goes on, afresh
    assert host.model.received_usd == 0.0  # type: ignore[attr-defined]
