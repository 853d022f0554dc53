"""The TNO resumes: a restored host answers as the uninterrupted one and keeps its books.

On the profit-sharing scenario's TNO (two periods): after its plan alone, a payment and an ADMM
step the host is replaced by one built on the same private folder, which re-solves that step;
its cost report, its answer to an offer (which depends on the restored plan), later payments and
steps equal the uninterrupted host's to 1e-6, and the payments it received add up the same.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ptn.coordinator.runtime.transports import InProcessEndpoint
from ptn.protocol.v1 import common_pb2, games_pb2
from ptn.services.hosting import build_host
from tests.support.operators import (
    assert_same_replies,
    consensus_step,
    cost_request,
    header,
    operator_part,
    periods_of,
    resumed_replies,
    run_steps,
)

STATIONS = ("depot6", "east4", "west9")


def test_a_restored_tno_answers_as_the_uninterrupted_one(tmp_path: Path) -> None:
    periods = periods_of("tno")
    ramp = np.linspace(20.0, 80.0, 3)[:, None]
    requests = [
        ("ConsensusStep", consensus_step("tno", "c0", STATIONS, periods, 0.0, 0.0, 0.0, "run")),
        ("Settle", games_pb2.Settlement(header=header("tno", "s1", "run"), amount=5.0)),
        ("ConsensusStep", consensus_step("tno", "c1", STATIONS, periods, ramp, 0.1, 30.0,
                                         "run")),
        ("ReportCost", cost_request("tno", "r1", "run")),
        ("ConsiderShare", games_pb2.ProfitShareOffer(header=header("tno", "o1", "run"),
                                                     share=0.3, reference_cost=500.0,
                                                     payment=2.0)),
        ("Settle", games_pb2.Settlement(header=header("tno", "s2", "run"), amount=3.0)),
        ("ConsensusStep", consensus_step("tno", "c2", STATIONS, periods, ramp[::-1], 0.2, 60.0,
                                         "run")),
        ("ReportCost", cost_request("tno", "r2", "run")),
    ]
    steps = [lambda replies, request=request: request for request in requests]
    expected, resumed = resumed_replies(operator_part("tno"), steps, 3, tmp_path)
    assert all(reply.header.status == common_pb2.STATUS_OK for reply in expected)
    assert_same_replies(expected, resumed)
    # the books: a third host on the folder, given a request of the same run, holds both
    # payments (one made before the interruption, one after)
    host = build_host(operator_part("tno"), tmp_path)
    run_steps(InProcessEndpoint(host), [lambda replies: (
        "Describe", common_pb2.DescribeRequest(header=header("tno", "x", "run")))], [])
    assert host.model.received_usd == pytest.approx(8.0)  # type: ignore[attr-defined]
