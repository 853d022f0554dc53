"""Traffic cases several test modules share: the default scenario's traffic and a zoned toy."""

from __future__ import annotations

import numpy as np

from ptn.engines.traffic.builtin import nguyen_dupuis
from ptn.engines.traffic.charging import ChargingNetworkSpec, ChargingStation
from ptn.engines.traffic.multiperiod import (
    MultiPeriodProblem,
    MultiPeriodSpec,
    build_multiperiod_problem,
)
from ptn.engines.traffic.network import RoadNetwork

#: the product's default scenario: hourly demand profile, 3 % EVs, three stations
PROFILE = np.array([0.15, 0.1, 0.08, 0.08, 0.12, 0.3, 0.65, 0.95, 1.0, 0.75, 0.6, 0.6, 0.65,
                    0.6, 0.65, 0.75, 0.9, 1.0, 0.85, 0.6, 0.45, 0.35, 0.28, 0.2])
EV_SHARE = 0.03
STATIONS = (("cs6", 6), ("cs10", 10), ("cs11", 11))


def default_traffic(ev_share: float = EV_SHARE, periods: int = PROFILE.size
                    ) -> MultiPeriodProblem:
    """Nguyen–Dupuis over 24 h with stations cs6/cs10/cs11 (30 veh/h, 0.5 h, J = 0.5, 100 $/MWh)
    and inelastic EV demand (price_sensitivity 0); shifts of one period at 3 $. ``periods``
    keeps the day's first hours only."""
    network = nguyen_dupuis()
    stations = tuple(ChargingStation(name, node, 30.0, 0.5, 0.5, np.full(periods, 100.0))
                     for name, node in STATIONS)
    demand = np.outer(PROFILE[:periods], network.od_demand)
    spec = MultiPeriodSpec(
        ChargingNetworkSpec(network, stations),
        gv_demand_veh_per_h=demand * (1.0 - ev_share),
        ev_demand_veh_per_h=demand * ev_share,
        max_shift_periods=1,
        shift_cost_per_period=3.0,
        price_sensitivity=0.0,
    )
    return build_multiperiod_problem(spec)


def zone_network() -> RoadNetwork:
    """Zones 1, 2, 3 (first through node 4): 1->2->3 is short but passes through zone 2."""
    return RoadNetwork(
        name="zones",
        node_ids=np.array([1, 2, 3, 4]),
        num_zones=3,
        first_thru_node=4,
        link_tail=np.array([0, 1, 0, 3]),
        link_head=np.array([1, 2, 3, 2]),
        capacity=np.full(4, 100.0),
        length=np.zeros(4),
        free_flow_time=np.array([1.0, 1.0, 10.0, 10.0]),
        b=np.full(4, 0.15),
        power=np.full(4, 4.0),
        toll=np.zeros(4),
        link_type=np.ones(4, dtype=np.int64),
        od_origin=np.array([0, 0]),
        od_destination=np.array([2, 1]),
        od_demand=np.array([10.0, 5.0]),
    )
