"""A DSO that cannot serve the loads it is sent says which of its limits binds.

The coordinator sees only the reply's status and message (MODELS.md §0: voltages stay private),
so an infeasible dispatch or ADMM step must carry the elastic re-solve's diagnosis in words
(:mod:`ptn.engines.power.infeasibility`), never a bare "infeasible" nor a solver's advice. Case:
the default scenario's DSO (case33bw, stations at buses 16, 20 and 32) over two periods, sent
2 MW of charging at its far-end station cs6 in the second period only: more than the feeder can
carry within its 0.9 p.u. floor. Checked against pandapower's AC power flow of the same loads
without the DSO's DER: the floor is violated there too, and by more than the diagnosis says
(the DER hold the voltage up as far as they can).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ptn.coordinator.runtime.transports import InProcessEndpoint
from ptn.engines.power.pandapower_io import run_ac_power_flow
from ptn.protocol.v1 import common_pb2
from ptn.scenario.document import load_scenario
from ptn.services.dso.model import DsoModel
from ptn.services.host import OperatorHost
from tests.support.operators import header, series

SCENARIO = load_scenario("nguyen-dupuis-ieee33", periods=2)
STATIONS = SCENARIO.public.stations


def test_an_infeasible_dispatch_reply_names_the_voltage_floor_and_the_period(
        tmp_path: Path) -> None:
    model = DsoModel.from_part(SCENARIO.part("dso"), private_output_dir=tmp_path)
    loads = np.zeros((len(STATIONS), 2))
    loads[STATIONS.index("cs6"), 1] = 2.0
    # independently: the AC power flow of the feeder's loads plus 2 MW at bus 16 (cs6) sinks
    # below the case's 0.9 p.u. floor, while the first period's loads do not
    feeder = model.config.case.feeders[0]
    scale = model.config.case.load_profile
    extra = np.where(feeder.bus_ids == 16, 2.0, 0.0)
    first = run_ac_power_flow(feeder, feeder.load_p_mw * scale[0], feeder.load_q_mvar * scale[0])
    second = run_ac_power_flow(feeder, feeder.load_p_mw * scale[1] + extra,
                               feeder.load_q_mvar * scale[1])
    assert first.vm_pu.min() > 0.9 > second.vm_pu.min()

    endpoint = InProcessEndpoint(OperatorHost(model))
    reply = endpoint.call("Dispatch", common_pb2.LoadSignal(
        header=header("dso", "d1"), load_mw=series(STATIONS, loads)), 60.0)
    assert reply.header.status == common_pb2.STATUS_INFEASIBLE
    message = reply.header.message
    assert message.startswith("the OPF is infeasible; the least violation of its limits")
    assert "feeder case33bw: voltage below its minimum at" in message
    assert "in period 1," in message and "period 0" not in message
    worst = re.search(r"worst bus 18 at ([0-9.]+) p\.u\. against 0\.9 p\.u\.", message)
    assert worst is not None
    assert second.vm_pu.min() < float(worst.group(1)) < 0.9
    # its engineers get every violation in its private folder, none of it in the reply
    report = json.loads((tmp_path / "infeasibility.json").read_text())
    buses = {v["element"] for v in report["violations"] if v["kind"] == "voltage_min"}
    assert "bus 18" in buses and len(buses) == int(re.search(r"at (\d+) buses", message)[1])
    assert all(v["periods"] == [1] for v in report["violations"])
    assert "Try another solver" not in message

    step = endpoint.call("ConsensusStep", common_pb2.ConsensusStep(
        header=header("dso", "c1"),
        price_per_mwh=series(STATIONS, np.zeros_like(loads)),
        target_load_mw=series(STATIONS, loads),
        penalty_per_mw2h=1.0), 60.0)
    # the ADMM step chooses its own loads: feasible, so no diagnosis, and its report replaces
    # the infeasible one's
    assert step.header.status == common_pb2.STATUS_OK
    model.write_private_report()
    assert not (tmp_path / "infeasibility.json").exists()
    assert (tmp_path / "voltages.csv").exists()
