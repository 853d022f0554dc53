"""The operators' tables of a scenario as a schema: ``[traffic]``, ``[dso]``, ``[cno.<id>]``,
``[tno]``.

Why this module exists: each operator's table has many keys with units, defaults and bounds;
they are declared here once (:func:`ptn.scenario.keys.key`) and the operators' readers
(ptn.services.<role>.config) validate their table against them before the checks that need the
operator's data (a node of the road network, a bus of the feeder, a station of the scenario).
Meanings and units are those of the models' docstrings (ptn.engines) and MODELS.md.
"""

from __future__ import annotations

from typing import Literal

from ptn.engines.fleet.case import FleetModelKind
from ptn.engines.power.pricing import PriceLimits
from ptn.engines.traffic import sue_periods
from ptn.scenario.keys import REQUIRED, NameList, NumberOrList, Profile, Shaped, Table, key

# ---------------------------------------------------------------- [traffic]


class TrafficStation(Table):
    """``[[traffic.station]]``: one charging station on the road network (its queue is a
    Davidson link: travel time ``charging_time_h`` at zero flow, growing with the flow's share
    of ``capacity_veh_per_h``)."""

    name: str = key(REQUIRED, "public station name (one of scenario.stations)")
    node: int = key(REQUIRED, "road node the station is at (the network's node label)")
    capacity_veh_per_h: float = key(REQUIRED, "charging capacity of the station", gt=0,
                                    unit="veh/h")
    charging_time_h: float = key(REQUIRED, "time to charge one EV at zero queue", gt=0,
                                 unit="h")
    davidson_j: float = key(REQUIRED, "Davidson delay parameter J of the station's queue",
                            ge=0)


class EvClassTable(Table):
    """``[[traffic.ev_class]]``: one EV class (seed 003, eqs. 1.g–1.h): energy need =
    ``(soc_target − soc_arrival) × battery_mwh``."""

    name: str = key(REQUIRED, "class name")
    share: float = key(REQUIRED, "share of the EV trips made by this class (the shares sum to "
                                 "1)", ge=0, unit="fraction")
    battery_mwh: float = key(REQUIRED, "battery capacity (at most 10 MWh)", gt=0, unit="MWh")
    soc_arrival: float = key(REQUIRED, "state of charge on arrival at a station", ge=0,
                             unit="fraction")
    soc_target: float = key(REQUIRED, "state of charge after charging", ge=0, unit="fraction")
    soc_min: float = key(0.0, "lowest state of charge (soc_min <= soc_arrival, eq. 1.h)", ge=0,
                         unit="fraction")
    soc_max: float = key(1.0, "highest state of charge (soc_target <= soc_max <= 1, eq. 1.h)",
                         ge=0, unit="fraction")
    max_power_mw: float | None = key(None, "largest charging power (at least every station's "
                                           "rate energy_per_charge_mwh / charging_time_h, eq. "
                                           "1.g); unset: no limit", gt=0, unit="MW")


class TrafficTable(Table):
    """``[traffic]``: the traffic department's private data (ptn.services.traffic.model)."""

    network: str = key("nguyen-dupuis", "road network: a built-in name or a TNTP network's "
                                        "path (relative to the scenario; $VARIABLES expanded)")
    time_unit: Literal["s", "min", "h"] = key(
        "min", "unit of the TNTP network file's free-flow times (TNTP's convention is minutes; "
               "some files, e.g. Eastern Massachusetts', hold hours): it sets what the value of "
               "time charges for a link", choice="time unit")
    trips: str | list[str] | None = key(
        None, "each period's trips, replacing the network's trip matrix times demand_profile: "
              "a long CSV or Parquet table (period, origin, destination, trips_veh_per_h; "
              "periods from 0) or a list of TNTP trips files, one per period (paths relative "
              "to the scenario); demand_scale still applies; unset: the network's trips",
        type_name="path or list of paths")
    demand_profile: Profile = key("flat", "multiplier of the network's trip matrix per period: "
                                          "a built-in daily profile or a list (24 hourly "
                                          "values, or one per period)",
                                  type_name="profile name or list of numbers")
    demand_scale: float = key(1.0, "factor on every origin-destination demand", ge=0)
    ev_share: float = key(0.05, "share of the trips made by EVs that charge on the way", ge=0,
                          le=1, unit="fraction")
    energy_per_charge_mwh: float = key(0.045, "energy one EV charges at a station", gt=0,
                                       unit="MWh")
    value_of_time_per_h: float = key(10.0, "drivers' value of time (turns travel and queueing "
                                           "time into money)", gt=0, unit="$/h")
    max_shift_periods: int | None = key(None, "how many periods a trip's departure may shift "
                                              "(M; must be 0 in SUE mode and with a residual "
                                              "flow)", ge=0, unit="periods",
                                        default_text="1 (ue), 0 (sue)")
    shift_cost_per_period: float = key(3.0, "cost of shifting a departure by one period (UE "
                                            "only)", ge=0, unit="$/period")
    price_sensitivity: NumberOrList = key(0.0, "sigma_t: how EV charging demand falls with the "
                                               "price above base_price_per_mwh; one value or "
                                               "one per period (UE only)", ge=0,
                                          type_name="number or list of numbers")
    base_price_per_mwh: float = key(200.0, "C_base: the price at which the EV demand is as "
                                           "given (UE only)", gt=0, unit="$/MWh")
    equilibrium_gap: float = key(1e-10, "relative gap at which the user equilibrium is solved "
                                        "(UE only)", gt=0)
    max_iterations: int = key(1000, "iteration limit of the equilibrium solver (UE only)", ge=0)
    assignment: Literal["ue", "sue"] = key("ue", "how drivers choose routes: Wardrop's user "
                                                 "equilibrium (seed 001) or logit stochastic "
                                                 "user equilibrium (seed 002)",
                                           choice="assignment")
    sue_theta: float = key(sue_periods.DEFAULT_THETA_PER_DOLLAR, "logit dispersion theta (SUE "
                                                                 "only)", gt=0, unit="1/$")
    sue_method: str = key(sue_periods.DEFAULT_METHOD, "SUE solver: "
                                                      + ", ".join(sue_periods.METHODS)
                                                      + " (SUE only)")
    sue_tolerance: float = key(sue_periods.DEFAULT_TOLERANCE_VEH_PER_H, "SUE stopping test: "
                                                                        "largest flow change "
                                                                        "(SUE only)", gt=0,
                               unit="veh/h")
    sue_warm_start: bool = key(True, "start each SUE solve from the previous flows (SUE only)")
    sue_max_iterations: int = key(sue_periods.DEFAULT_MAX_ITERATIONS, "SUE iteration limit "
                                                                      "(SUE only)", ge=1)
    residual_share: NumberOrList = key(0.0, "share of the vehicles on the network that do not "
                                            "finish their trip in a period and are carried into "
                                            "the next (seed 003, eq. 1.e); one value or one per "
                                            "period, each in [0, 1); needs max_shift_periods = 0",
                                       ge=0, unit="fraction",
                                       type_name="number or list of numbers")
    ev_class: list[EvClassTable] = key([], "EV classes (seed 003); none: one class charging "
                                           "energy_per_charge_mwh")
    station: list[TrafficStation] = key([], "the charging stations (one per scenario station)")
    probe_answers: Literal["exact", "sensitivity", "derivative"] = key(
        "exact", "how the pricing game's probes are answered: exact re-solves; a first-order "
                 "expansion within probe_radius_per_mwh of a solved point, checked and re-solved "
                 "where refuted (sensitivity); or that expansion with its first checks only "
                 "reported (derivative, the city game's; UE only)",
        choice="probe answers")
    probe_radius_per_mwh: float = key(1.0, "largest price change a sensitivity answer covers "
                                           "(UE only)", gt=0, unit="$/MWh")
    probe_workers: int = key(1, "private worker processes solving probe re-solves in parallel "
                                "(at most 64; UE only)", ge=1)
    probe_workers_on: Literal["processes", "ray"] = key(
        "processes", "where the probe workers run: private processes on the operator's node, or "
                     "Ray actors (one CPU each) spread over the cluster, for a traffic operator "
                     "on Ray (--backend ray; UE only)", choice="probe workers")
    probe_load_tolerance_mw: float | None = key(None, "probe re-solves stop once no station load "
                                                      "moves by more than this; unset: at "
                                                      "equilibrium_gap (UE only)", gt=0,
                                                unit="MW")


# ---------------------------------------------------------------- [dso]

_LIMITS = PriceLimits()
_VOLTAGE = "must be a finite positive voltage in p.u."
_VOLTAGE_TYPE = "expected a voltage in p.u."


class FeederItem(Table):
    """``{name = "north", case = "case18"}``: a named copy of a feeder."""

    name: str = key(REQUIRED, "the feeder's name in this scenario")
    case: str = key(REQUIRED, "a built-in feeder name or a feeder file's path")


class DsoPricing(Table):
    """``[dso.pricing]``: seed 001's MUL-DSO settings (§4.1 of the paper), pricing game only."""

    price_min_per_mwh: float = key(_LIMITS.price_min_per_mwh,
        "lowest charging price the DSO may quote", unit="$/MWh")
    price_max_per_mwh: float = key(_LIMITS.price_max_per_mwh,
        "highest charging price the DSO may quote", unit="$/MWh")
    mean_cap_per_mwh: float = key(_LIMITS.mean_cap_per_mwh,
        "cap on a price's mean over the periods", unit="$/MWh")
    proximal_weight: float = key(0.2, "weight w of the proximal term −w‖λ − λ_previous‖² of "
                                      "the DSO's pricing objective (keeps a quote near the "
                                      "previous one)", ge=0)
    trial_rounds: int = key(5, "rounds of random trial prices before the fitted quotes", ge=1)
    seed: int = key(0, "seed of the random trial prices", ge=0)
    trial_price_min_per_mwh: float | None = key(None, "lowest random trial price (within the "
                                                      "price bounds)", unit="$/MWh",
                                                default_text="price_min_per_mwh")
    trial_price_max_per_mwh: float | None = key(None, "highest random trial price (within the "
                                                      "price bounds)", unit="$/MWh",
                                                default_text="mean_cap_per_mwh")
    price_per: Literal["bus", "station"] = key("bus", "what one DSO price covers: every station "
                                                      "at one bus, or each station on its own",
                                               choice="value")


class DsoHorizon(Table):
    """``[dso.horizon]``: the DSO's horizon (ptn.engines.power.case_file)."""

    period_hours: float | None = key(None, "period length; must equal scenario.period_hours",
                                     gt=0, unit="h", default_text="scenario.period_hours")
    load_profile: Profile = key(None, "multiplier of every bus's load per period: a built-in "
                                      "daily profile or a list (24 hourly values, or one per "
                                      "period)", type_name="profile name or list of numbers",
                                default_text='"rts-winter-weekday" ("flat" for one period)')


class DsoUpstream(Table):
    """``[dso.upstream]``: the price of power bought from the transmission grid."""

    tariff: Literal["seed002-tou", "shipped"] = key(
        "shipped", "upstream tariff: seed 002's time of use, or the feeder's own cost data",
        choice="tariff")
    prices_per_mwh: Profile = key(None, "upstream price per period instead of tariff (24 hourly "
                                        "values, or one per period)", unit="$/MWh",
                                  type_name="list of numbers", default_text="unset (tariff)")
    loss_price_per_mwh: float = key(0.0, "price of the feeder's losses", unit="$/MWh")


class MicroTurbineTable(Table):
    """``[[dso.micro_turbine]]``: a dispatchable generator, cost ``a·p² + b·p`` $/h."""

    name: str = key(REQUIRED, "unit name")
    bus: int = key(REQUIRED, "bus label of the feeder")
    p_max_mw: float = key(REQUIRED, "largest output", unit="MW")
    cost_quadratic_per_mw2h: float = key(0.0, "quadratic cost coefficient a", unit="$/MW²h")
    cost_linear_per_mwh: float = key(0.0, "linear cost coefficient b", unit="$/MWh")
    p_min_mw: float = key(0.0, "smallest output", unit="MW")
    q_min_mvar: float = key(0.0, "smallest reactive output", unit="MVAr")
    q_max_mvar: float = key(0.0, "largest reactive output", unit="MVAr")
    ramp_mw_per_h: float = key(float("inf"), "ramp limit", unit="MW/h", allow_infinite=True,
                               default_text="none")
    feeder: str | None = key(None, "the feeder the bus is on (needed with several feeders)")


class StorageTable(Table):
    """``[[dso.storage]]``: a battery, SOC in fractions of ``energy_mwh``; end SOC = initial."""

    name: str = key(REQUIRED, "unit name")
    bus: int = key(REQUIRED, "bus label of the feeder")
    energy_mwh: float = key(REQUIRED, "energy capacity", unit="MWh")
    charge_max_mw: float = key(REQUIRED, "largest charging power", unit="MW")
    discharge_max_mw: float = key(REQUIRED, "largest discharging power", unit="MW")
    charge_efficiency: float = key(0.95, "charging efficiency", unit="fraction")
    discharge_efficiency: float = key(0.95, "discharging efficiency", unit="fraction")
    soc_min: float = key(0.2, "lowest state of charge", unit="fraction")
    soc_max: float = key(0.8, "highest state of charge", unit="fraction")
    soc_initial: float = key(0.5, "state of charge at the start (and the end)",
                             unit="fraction")
    feeder: str | None = key(None, "the feeder the bus is on (needed with several feeders)")


class RenewableTable(Table):
    """``[[dso.pv]]`` or ``[[dso.wind]]``: available power ``rated_mw × profile[t]``,
    curtailable, ``p² + q² ≤ s²``."""

    name: str = key(REQUIRED, "unit name")
    bus: int = key(REQUIRED, "bus label of the feeder")
    rated_mw: float = key(REQUIRED, "rated power", unit="MW")
    profile: Profile = key(None, "available power per period in per unit of rated_mw: a "
                                 "built-in profile or a list", unit="p.u.",
                           type_name="profile name or list of numbers",
                           default_text='"solar" (pv), "wind" (wind)')
    s_max_mva: float | None = key(None, "inverter's apparent-power limit", unit="MVA",
                                  default_text="rated_mw")
    curtailable: bool = key(True, "whether the available power may be curtailed")
    reactive_support: bool = key(True, "whether the inverter gives reactive power")
    feeder: str | None = key(None, "the feeder the bus is on (needed with several feeders)")


class DemandResponseTable(Table):
    """``[[dso.demand_response]]``: shiftable load at a bus (energy over the horizon kept)."""

    name: str = key(REQUIRED, "unit name")
    bus: int = key(REQUIRED, "bus label of the feeder")
    max_shift_fraction: float = key(0.2, "largest share of the bus's load moved per period",
                                    unit="fraction")
    incentive_per_mwh: float = key(10.0, "what the DSO pays per MWh shifted away", unit="$/MWh")
    feeder: str | None = key(None, "the feeder the bus is on (needed with several feeders)")


class ChargingPointTable(Table):
    """``[[dso.charging_point]]``: a bus where a station's charging load is drawn."""

    name: str = key(REQUIRED, "public station name (one of scenario.stations)")
    bus: int = key(REQUIRED, "bus label of the feeder")
    feeder: str | None = key(None, "the feeder the bus is on (needed with several feeders)")
    max_mw: float = key(float("inf"), "largest charging load", unit="MW", allow_infinite=True,
                        default_text="none")


class DsoTable(Table):
    """``[dso]``: the DSO's private data (ptn.services.dso.model)."""

    feeder: Shaped = key("case33bw", "the feeder(s): a built-in name or a path, a table "
                                     "{name, case}, or a list of these",
                         type_name="name, path, {name, case} or a list of these")
    pricing: DsoPricing | None = key(None, "the pricing game's DSO settings (best-response only)",
                                     type_name="table")
    formulation: Literal["soc", "lindistflow"] = key(
        "soc", "the OPF's equations: SOC relaxation of DistFlow, or lossless LinDistFlow",
        choice="formulation")
    feeder_workers: int = key(1, "threads solving the feeders' OPFs at once", ge=1)
    voltage_min_pu: float | None = key(None, "lower voltage limit at every bus but the slack",
                                       unit="p.u.", default_text="the feeder's own", gt=0,
                                       message=_VOLTAGE, type_message=_VOLTAGE_TYPE)
    voltage_max_pu: float | None = key(None, "upper voltage limit at every bus but the slack",
                                       unit="p.u.", default_text="the feeder's own", gt=0,
                                       message=_VOLTAGE, type_message=_VOLTAGE_TYPE)
    horizon: DsoHorizon = key(DsoHorizon(), "the DSO's horizon")
    bus_load_profiles: str | None = key(
        None, "per-bus load shapes: a CSV or Parquet table of multipliers of each listed bus's "
              "base load per period (long: feeder, bus, period, multiplier; wide: feeder, bus, "
              "p0, p1, ...; docs/power.md), replacing horizon.load_profile at those buses; path "
              "relative to the scenario ($VARIABLES expanded)", unit="multiplier",
        type_name="path", default_text="unset (every bus follows horizon.load_profile)")
    upstream: DsoUpstream = key(DsoUpstream(), "the upstream purchase price")
    micro_turbine: list[MicroTurbineTable] = key([], "micro turbines")
    storage: list[StorageTable] = key([], "batteries")
    pv: list[RenewableTable] = key([], "PV units")
    wind: list[RenewableTable] = key([], "wind units")
    demand_response: list[DemandResponseTable] = key([], "shiftable loads")
    charging_point: list[ChargingPointTable] = key([], "the stations' buses (one per scenario "
                                                       "station)")


# ---------------------------------------------------------------- [cno.<id>]


class CnoTable(Table):
    """``[cno.<id>]``: a charging network operator's private data (ptn.services.cno.model)."""

    stations: NameList = key(REQUIRED, "the stations this CNO prices (scenario stations)",
                             type_name="list of station names")
    price_min_per_mwh: NumberOrList = key(REQUIRED, "lowest price: one for every station or "
                                                    "one per station", unit="$/MWh",
                                          type_name="number or list of numbers")
    price_max_per_mwh: NumberOrList = key(REQUIRED, "highest price: one for every station or "
                                                    "one per station", unit="$/MWh",
                                          type_name="number or list of numbers")
    best_response: Literal["aem", "exact"] = key("aem", "best-response method: approximation "
                                                        "by elasticity matrix (seed 001 eqs. "
                                                        "28–31) or the exact derivative-free "
                                                        "compass search", choice="method")
    elasticity: Literal["per-period", "full"] = key("per-period", "AEM's elasticity matrix: "
                                                                  "per period, or full (across "
                                                                  "periods)",
                                                    choice="elasticity")
    aem_steps: int = key(1, "most AEM steps (linearizations) per turn", ge=1)
    probe_step_per_mwh: float = key(1.0, "AEM's price perturbation when it linearizes the load "
                                         "response", gt=0, unit="$/MWh")
    trust_region_per_mwh: float | None = key(None, "AEM: largest move of a price per step; "
                                                   "unset: none", gt=0, unit="$/MWh")
    trust_region_shrink: float | None = key(
        None, "AEM with trust_region_per_mwh: a price whose move reverses the direction of its "
              "last move has its radius multiplied by this, and a price that moves the same "
              "way by its whole radius has it multiplied by 1.2 (up to trust_region_per_mwh); "
              "unset: the radius stays fixed", gt=0, lt=1, unit="fraction")
    exact_min_step_per_mwh: float = key(0.01, "the exact search stops when its step is below "
                                              "this (a local maximum to that resolution)", gt=0,
                                        unit="$/MWh")
    aem_measure_final: bool = key(True, "AEM: measure the loads at the final prices with one "
                                        "more probe (false: the model's prediction stands)")
    certificate_search: Literal["compass", "verified"] = key(
        "compass", "the epsilon certificate's best response: the exact compass search, or "
                   "model-guided candidates each verified by the traffic department "
                   "(ptn.engines.games.cno_response.verified)", choice="certificate search")
    certificate_poll_step_per_mwh: float | None = key(
        None, "verified certificate search: the step of its compass polls around the best "
              "candidate; unset: no polls", gt=0, unit="$/MWh")


# ---------------------------------------------------------------- [tno]


class BusBatteryTable(Table):
    """``[tno.battery]``: each bus's battery and charger; SOC in fractions of battery_mwh."""

    battery_mwh: float = key(REQUIRED, "battery capacity", unit="MWh")
    soc_min: float = key(REQUIRED, "lowest state of charge", unit="fraction")
    soc_max: float = key(REQUIRED, "highest state of charge", unit="fraction")
    soc_initial: float = key(REQUIRED, "state of charge at the start", unit="fraction")
    charge_power_max_mw: float = key(REQUIRED, "grid-side charging power while plugged in",
                                     unit="MW")
    charging_efficiency: float = key(0.95, "share of the grid energy reaching the battery",
                                     unit="fraction")


class BusLineTable(Table):
    """``[[tno.line]]``: one bus line: its stops, identical buses and their timetable."""

    name: str = key(REQUIRED, "line name")
    stops: list[int] = key(REQUIRED, "road node labels of the stops, in order")
    buses: int = key(REQUIRED, "number of buses on the line", ge=1)
    round_trips_per_period: Profile = key(REQUIRED, "round trips a bus makes per period (24 "
                                                    "hourly values or one per period)",
                                          type_name="list of numbers")
    energy_per_round_trip_mwh: float = key(REQUIRED, "energy of one round trip", ge=0,
                                           unit="MWh")
    service_share: Profile = key(REQUIRED, "share of the buses in service per period",
                                 unit="fraction", type_name="list of numbers")


class FleetStationTable(Table):
    """``[[tno.station]]``: a station the buses may charge at."""

    name: str = key(REQUIRED, "public station name (one of scenario.stations)")
    node: int = key(REQUIRED, "road node the station is at")
    power_max_mw: float = key(REQUIRED, "the station's grid limit", ge=0, unit="MW")


class TnoTable(Table):
    """``[tno]``: the transit network operator's bus fleet (ptn.services.tno.model)."""

    network: str = key("twelve-node", "road network: a built-in name or a TNTP network's path")
    tariff_per_mwh: Profile = key(REQUIRED, "the TNO's electricity tariff per period (24 hourly "
                                            "values or one per period)", unit="$/MWh",
                                  type_name="profile name or list of numbers")
    value_of_time_per_h: float = key(50.0, "cost of a bus-hour of detour driving", gt=0,
                                     unit="$/h")
    session_hours: float = key(0.5, "length of one charging visit (plug-in time at full power)",
                               gt=0, unit="h")
    two_way_roads: bool = key(False, "whether every road link may be driven both ways")
    fleet_model: FleetModelKind = key("pooled-lp", "the fleet's charging model")
    battery: BusBatteryTable = key(REQUIRED, "the fleet's bus battery")
    line: list[BusLineTable] = key([], "the bus lines (at least one)")
    station: list[FleetStationTable] = key([], "the stations (one per scenario station)")
