"""A scenario's ``[placement]`` as Ray scheduling options, checked against the cluster first.

Why this module exists: an actor that asks for a resource no node has waits forever, and so
does a placement group that cannot be placed. Before any operator starts, :func:`place`
checks every pin against the cluster's alive nodes (``ray.nodes()``) and fails naming the
operator and the resource, node id or labels; the placement group (one bundle per operator)
is waited for at most ``ready_timeout_s`` and removed on failure. :func:`operator_nodes`
asks each actor where it runs, for the results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ptn.engines.errors import InvalidInputError
from ptn.scenario.placement import OperatorPlacement, Placement

#: each bundle's CPU share: a bundle needs some resource, and operators take turns, not cores
BUNDLE_CPUS = 0.01
#: what the results say on backends that do not place operators
NOT_PLACED = "the [placement] table applies to the ray backend only; ignored on {backend}"


@dataclass
class RayPlacement:
    """Per operator, the options its actor is created with; the placement group, if any."""

    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    group: Any = None

    def remove(self) -> None:
        if self.group is not None:
            from ray.util.placement_group import remove_placement_group

            remove_placement_group(self.group)
            self.group = None


def alive_nodes() -> list[dict[str, Any]]:
    import ray

    return [node for node in ray.nodes() if node.get("Alive")]  # type: ignore[no-untyped-call]


def node_for(operator_id: str, pin: OperatorPlacement,
             nodes: list[dict[str, Any]]) -> str | None:
    """The node id an operator is pinned to (by id or labels), after checking a node fits."""
    where = f"[placement.operators.{operator_id}]"
    if pin.cpus > 0 and not any(node["Resources"].get("CPU", 0.0) >= pin.cpus
                                for node in nodes):
        raise InvalidInputError(
            f"{where} cpus: no alive node of the Ray cluster has {pin.cpus:g} CPUs (most: "
            f"{max((node['Resources'].get('CPU', 0.0) for node in nodes), default=0):g})")
    for name, amount in pin.resources.items():
        if not any(node["Resources"].get(name, 0.0) >= amount for node in nodes):
            have = sorted({r for node in nodes for r in node["Resources"]
                           if not r.startswith("node:") and r not in ("CPU", "GPU", "memory",
                                                                      "object_store_memory")})
            raise InvalidInputError(
                f"{where}: no alive node of the Ray cluster has {amount:g} "
                f"of resource {name!r} (custom resources: {', '.join(have) or 'none'})")
    if pin.node_id is not None:
        if not any(node["NodeID"] == pin.node_id for node in nodes):
            raise InvalidInputError(
                f"{where} node_id: no alive node {pin.node_id!r} in the Ray cluster (nodes: "
                f"{', '.join(node['NodeID'] for node in nodes)})")
        return pin.node_id
    if pin.labels:
        matching = sorted(node["NodeID"] for node in nodes
                          if all(node.get("Labels", {}).get(k) == v
                                 for k, v in pin.labels.items()))
        if not matching:
            wanted = ", ".join(f"{k}={v}" for k, v in pin.labels.items())
            raise InvalidInputError(f"{where} labels: no alive node of the Ray cluster has "
                                    f"the labels {wanted}")
        return matching[0]
    return None


def check_totals(placement: Placement, operator_ids: tuple[str, ...],
                 nodes: list[dict[str, Any]]) -> None:
    """The operators' custom resources summed fit the cluster's (else some would wait)."""
    demand: dict[str, float] = {}
    for operator_id in operator_ids:
        for name, amount in placement.of(operator_id).resources.items():
            demand[name] = demand.get(name, 0.0) + amount
    for name, amount in demand.items():
        total = sum(node["Resources"].get(name, 0.0) for node in nodes)
        if amount > total + 1e-12:
            raise InvalidInputError(
                f"[placement]: the operators ask for {amount:g} of resource {name!r} in all, "
                f"the Ray cluster has {total:g}")


def place(placement: Placement | None, operator_ids: tuple[str, ...]) -> RayPlacement:
    """Actor options per operator (and the ready placement group) for a Ray cluster that was
    already joined; a pin no node can satisfy raises InvalidInputError before any actor."""
    if placement is None:
        return RayPlacement({operator_id: {} for operator_id in operator_ids})
    from ray.util.scheduling_strategies import (
        NodeAffinitySchedulingStrategy,
        PlacementGroupSchedulingStrategy,
    )

    nodes = alive_nodes()
    pinned = {operator_id: node_for(operator_id, placement.of(operator_id), nodes)
              for operator_id in operator_ids}
    check_totals(placement, operator_ids, nodes)
    result = RayPlacement()
    for operator_id in operator_ids:
        options: dict[str, Any] = {}
        if placement.of(operator_id).resources:
            options["resources"] = dict(placement.of(operator_id).resources)
        if placement.of(operator_id).cpus > 0:
            options["num_cpus"] = placement.of(operator_id).cpus
        node_id = pinned[operator_id]
        if node_id is not None:
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id, soft=False)
        result.options[operator_id] = options
    if placement.group:
        result.group = reserve_group(placement, operator_ids)
        for index, operator_id in enumerate(operator_ids):
            result.options[operator_id]["scheduling_strategy"] = \
                PlacementGroupSchedulingStrategy(result.group, placement_group_bundle_index=index)
    return result


def reserve_group(placement: Placement, operator_ids: tuple[str, ...]) -> Any:
    """One bundle per operator (its custom resources and a token CPU share; its labels as the
    bundle's label selector), ready within ``ready_timeout_s`` or removed and refused."""
    import ray
    from ray.util.placement_group import placement_group, remove_placement_group

    bundles = [{"CPU": max(BUNDLE_CPUS, placement.of(operator_id).cpus),
                **placement.of(operator_id).resources} for operator_id in operator_ids]
    selectors = [dict(placement.of(operator_id).labels) for operator_id in operator_ids]
    strategy = "SPREAD" if placement.strategy == "spread" else "PACK"
    group = placement_group(bundles, strategy=strategy,
                            bundle_label_selector=selectors if any(selectors) else None)
    try:
        ray.get(group.ready(), timeout=placement.ready_timeout_s)
    except ray.exceptions.GetTimeoutError:
        remove_placement_group(group)
        raise InvalidInputError(
            f"[placement]: the placement group of {len(bundles)} bundles ({strategy}) was not "
            f"placed within ready_timeout_s = {placement.ready_timeout_s:g} s: the cluster's "
            f"free resources do not fit {bundles}"
            + (f" with the labels {selectors}" if any(selectors) else "")) from None
    return group


def operator_nodes(actors: dict[str, Any], timeout_s: float) -> dict[str, dict[str, str]]:
    """Per operator, the Ray node (id, host, IP) its actor runs on."""
    import ray

    calls = {operator_id: actor.node.remote() for operator_id, actor in actors.items()}
    return {operator_id: ray.get(call, timeout=timeout_s) for operator_id, call in calls.items()}
