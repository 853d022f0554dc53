"""Where a scenario's operators run on a Ray cluster: the ``[placement]`` table as a value.

Why this module exists: on a Ray cluster an operator's actor lands wherever Ray finds room
(usually the head node), while big operators belong on the nodes meant for them. The scenario
says so in its ``[placement]`` table; this module reads and validates it (errors name the key),
with no Ray import: ptn.coordinator.runtime.placement turns the value into Ray's scheduling
options. Layout::

    [placement]
    strategy = "spread"         # or "pack": the operators as one placement group, one bundle
                                # per operator, spread over nodes or packed onto few
    group = true                # a placement group without a strategy (packed); default:
                                # true when a strategy is given, else false
    ready_timeout_s = 60        # how long the pinned operators (or the group) may take to be
                                # placed (an operator without pins fits any node)

    [placement.operators.dso]   # one table per pinned operator id
    resources = { feeders = 1 } # custom resources its node must have (amount reserved)
    resource = "feeders"        # shorthand: a token amount (0.001) of one resource
    node_id = "ab12..."         # a node by its Ray node id (not with a placement group)
    labels = { zone = "a" }     # a node whose Ray labels match (in a placement group: the
                                # operator's bundle goes to such a node)
    cpus = 2                    # CPUs the operator reserves (default: none; operators take
                                # turns, but e.g. a traffic department with probe_workers = 2
                                # computes on two cores at once)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ptn.engines.toml_keys import KeyReader, show_value
from ptn.scenario.schema import OperatorPin, PlacementTable

#: the keys of ``[placement]``, their types, bounds and defaults: ptn.scenario.schema
STRATEGIES: tuple[str, ...] = ("spread", "pack")
PLACEMENT_KEYS = tuple(PlacementTable.model_fields)
OPERATOR_KEYS = tuple(OperatorPin.model_fields)
#: the amount of a custom resource ``resource = "name"`` asks for: the node must have it, and
#: a thousand operators can share one unit
TOKEN_AMOUNT = 0.001
DEFAULT_READY_TIMEOUT_S: float = PlacementTable().ready_timeout_s


@dataclass(frozen=True)
class OperatorPlacement:
    """Where one operator may run: a node with these resources, this id, these labels."""

    resources: dict[str, float] = field(default_factory=dict)
    node_id: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    #: CPUs reserved for the operator's actor (its bundle, in a placement group); 0: none
    cpus: float = 0.0


@dataclass(frozen=True)
class Placement:
    """A scenario's ``[placement]``: per operator pins, and the placement group if any."""

    strategy: str | None = None
    group: bool = False
    ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S
    operators: dict[str, OperatorPlacement] = field(default_factory=dict)

    def of(self, operator_id: str) -> OperatorPlacement:
        return self.operators.get(operator_id, OperatorPlacement())


def parse_placement(reader: KeyReader, table: PlacementTable,
                    operator_ids: tuple[str, ...]) -> Placement:
    """The ``[placement]`` table (its keys checked by the schema) validated against the
    scenario's operators and the combinations Ray accepts."""
    where = "placement"
    strategy = table.strategy
    group = table.group if table.group is not None else strategy is not None
    if strategy is not None and not group:
        reader.fail(f"{where}.group", f"strategy {strategy!r} places the operators as a "
                                      "placement group: group cannot be false")
    operators: dict[str, OperatorPlacement] = {}
    for operator_id, pin in table.operators.items():
        key = f"{where}.operators.{operator_id}"
        if operator_id not in operator_ids:
            reader.fail(key, f"the scenario has no operator {operator_id!r} (has: "
                             f"{', '.join(operator_ids)})")
        operators[operator_id] = _operator_placement(reader, pin, key, group)
    return Placement(strategy, group, table.ready_timeout_s, operators)


def _operator_placement(reader: KeyReader, pin: OperatorPin, key: str,
                        group: bool) -> OperatorPlacement:
    resources: dict[str, float] = {}
    if "resource" in pin.model_fields_set:
        if not pin.resource:
            reader.fail(f"{key}.resource", f"expected a resource name, got "
                                           f"{show_value(pin.resource)}")
        resources[pin.resource] = TOKEN_AMOUNT
    for name, amount in pin.resources.items():
        if isinstance(amount, bool) or not isinstance(amount, int | float) or not amount > 0:
            reader.fail(f"{key}.resources.{name}", f"expected a positive amount, got "
                                                   f"{show_value(amount)}")
        if name in ("CPU", "GPU", "memory", "object_store_memory"):
            reader.fail(f"{key}.resources.{name}", "pin by a custom resource (CPUs are "
                                                   "reserved by cpus = N; GPUs and memory "
                                                   "are not reserved)")
        resources[name] = float(amount)
    node_id = pin.node_id
    if node_id is not None and not node_id:
        reader.fail(f"{key}.node_id", f"expected a Ray node id, got {show_value(node_id)}")
    for name, value in pin.labels.items():
        if not isinstance(value, str):
            reader.fail(f"{key}.labels.{name}", f"expected a string, got {show_value(value)}")
    if group and node_id is not None:
        reader.fail(key, "node_id cannot be combined with a placement group (strategy or "
                         "group): pin by resources or labels instead")
    if node_id is not None and (pin.labels or resources):
        reader.fail(key, "node_id names one node: give it alone (not with labels or "
                         "resources)")
    return OperatorPlacement(resources, node_id, dict(pin.labels), float(pin.cpus))
