"""The traffic department resumes: a restored host answers as the uninterrupted one.

On the default scenario's traffic department (UE with departure shifting, two periods): after a
price response and an ADMM step the host is replaced by one built on the same private folder,
which re-solves that step (its warm starts are not kept); its cost report, later ADMM steps,
probe responses and price responses equal the uninterrupted host's to 1e-6.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ptn.protocol.v1 import common_pb2, games_pb2
from tests.support.operators import (
    assert_same_replies,
    consensus_step,
    cost_request,
    header,
    operator_part,
    periods_of,
    resumed_replies,
    series,
)

STATIONS = ("cs6", "cs10", "cs11")


def prices(cs6: float, cs10: float, cs11: float) -> np.ndarray:
    return np.array([[cs6], [cs10], [cs11]]) * np.ones((1, periods_of("traffic")))


def test_a_restored_traffic_department_answers_as_the_uninterrupted_one(tmp_path: Path) -> None:
    periods = periods_of("traffic")
    requests = [
        ("RespondToPrices", common_pb2.PriceSignal(header=header("traffic", "p1", "run"),
                                                   price_per_mwh=series(STATIONS,
                                                                        prices(80, 95, 70)))),
        ("ConsensusStep", consensus_step("traffic", "c1", STATIONS, periods,
                                         prices(60, 90, -20), 0.3, 40.0, "run")),
        ("ReportCost", cost_request("traffic", "r1", "run")),
        ("ConsensusStep", consensus_step("traffic", "c2", STATIONS, periods,
                                         prices(70, 85, 10), 0.35, 80.0, "run")),
        ("ProbeResponses", games_pb2.PriceProbes(header=header("traffic", "b1", "run"),
                                                 price_per_mwh=[
                                                     series(STATIONS, prices(50, 120, 120)),
                                                     series(STATIONS, prices(120, 50, 120))])),
        ("RespondToPrices", common_pb2.PriceSignal(header=header("traffic", "p2", "run"),
                                                   price_per_mwh=series(STATIONS,
                                                                        prices(90, 90, 60)))),
        ("ReportCost", cost_request("traffic", "r2", "run")),
    ]
    steps = [lambda replies, request=request: request for request in requests]
    expected, resumed = resumed_replies(operator_part("traffic"), steps, 2, tmp_path)
    assert all(reply.header.status == common_pb2.STATUS_OK for reply in expected)
    assert_same_replies(expected, resumed)
