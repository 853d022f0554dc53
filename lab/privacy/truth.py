"""The truth the attacks are scored against: the operators' private data, with full information.

Why this module exists: only the experimenter holds every operator's table of a scenario; like
the references (:mod:`ptn.lab.references.joint`), this reads them with the operators' own
configuration readers and models, so that an attack's error is measured against what the
target really knows, never against another estimate.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ptn.coordinator.outcome import FloatArray, RoundRecord
from ptn.engines.errors import InvalidInputError
from ptn.engines.power.feeder import Feeder
from ptn.engines.power.result import OpfResult
from ptn.lab.privacy.feeder_limits import FeederTruth
from ptn.lab.privacy.price_bounds import CnoTruth
from ptn.scenario.document import Scenario
from ptn.services.cno.config import cno_config_from_part
from ptn.services.dso.config import dso_config_from_part
from ptn.services.dso.model import DsoModel
from ptn.services.traffic.config import traffic_config_from_part
from ptn.services.traffic.model import TrafficDepartmentModel

#: a voltage within this of its limit (p.u.), a line loaded to this share of its rating, binds
VOLTAGE_TOLERANCE_PU = 1e-4
LOADING_BINDS_PERCENT = 99.9


def traffic_response(scenario: Scenario, operator_id: str = "traffic"
                     ) -> Callable[[FloatArray], FloatArray]:
    """The traffic department's private price response: station loads (MW) at given prices
    (its own model, solved to its equilibrium gap)."""
    model = TrafficDepartmentModel(traffic_config_from_part(scenario.part(operator_id)))

    def respond(price_per_mwh: FloatArray) -> FloatArray:
        loads = model.respond_to_prices(np.asarray(price_per_mwh, dtype=np.float64))
        if loads.load_mw is None:
            raise InvalidInputError(f"the traffic model has no response at these prices: "
                                    f"{loads.message}")
        return np.asarray(loads.load_mw, dtype=np.float64)

    return respond


def binding_periods(result: OpfResult, feeders: tuple[Feeder, ...]) -> np.ndarray:
    """Per period, whether any feeder has a bus at a voltage limit or a line at its rating."""
    periods = result.feeders[0].voltage_pu.shape[1]
    binding = np.zeros(periods, dtype=bool)
    for dispatch, feeder in zip(result.feeders, feeders, strict=True):
        voltage = dispatch.voltage_pu
        low, high = feeder.v_min_pu[:, None], feeder.v_max_pu[:, None]
        slack = np.zeros(voltage.shape[0], dtype=bool)
        slack[int(feeder.slack_bus)] = True
        at_limit = ((voltage <= low + VOLTAGE_TOLERANCE_PU)
                    | (voltage >= high - VOLTAGE_TOLERANCE_PU)) & ~slack[:, None]
        binding |= at_limit.any(axis=0)
        loading = np.nan_to_num(dispatch.branch_loading_percent, nan=0.0)
        binding |= (loading >= LOADING_BINDS_PERCENT).any(axis=0)
    return binding


def feeder_truth(scenario: Scenario, station_load_mw: FloatArray,
                 operator_id: str = "dso") -> FeederTruth:
    """The DSO's dispatch at the agreed station loads (its private OPF): the periods in which a
    limit binds, and its upstream price per period (the lowest of its feeders')."""
    config = dso_config_from_part(scenario.part(operator_id))
    result = DsoModel(config).dispatch_fixed(np.asarray(station_load_mw, dtype=np.float64))
    if not result.status.has_solution:
        raise InvalidInputError(f"the DSO's dispatch at the agreed loads has no solution "
                                f"({result.status.value}: {result.message})")
    upstream = np.min(np.stack(config.case.upstream_prices()[0]), axis=0)
    return FeederTruth(binding_periods(result, config.case.feeders), upstream)


def cno_truth(scenario: Scenario, target: str, stations: tuple[str, ...],
              records: tuple[RoundRecord, ...] | list[RoundRecord]) -> CnoTruth:
    """A CNO's price bounds per station (its ``[cno.*]`` table) and the DSO's prices at its
    stations in each round (the coordinator's record of the quotes)."""
    config = cno_config_from_part(scenario.part(target))
    rows = [stations.index(s) for s in config.stations]
    purchase = np.stack([r.series["dso_price_per_mwh"][rows] for r in records
                         if "dso_price_per_mwh" in r.series])
    return CnoTruth(price_min_per_mwh=config.pricing.price_min_per_mwh.min(axis=1),
                    price_max_per_mwh=config.pricing.price_max_per_mwh.max(axis=1),
                    purchase_per_mwh=purchase)
