"""pandapower's benchmark distribution nets, by the names a pandapower user knows them by.

Why this exists: pandapower ships the radial LV/MV benchmark feeders of the literature in
``pandapower.networks``; a user of ptn should reach them as ``load_feeders("cigre_lv")``
rather than export each to a file first. They ship without cost data (no ``poly_cost``), so
their feeders say ``upstream_cost.has_cost_data = False`` (the OPF then prices purchases with a
tariff it names).

Names (:data:`PANDAPOWER_FEEDERS`; function of ``pandapower.networks`` and its arguments):

* ``cigre_lv``: ``create_cigre_network_lv()``, the CIGRE TF C6.04.02 European LV benchmark
  (residential, industrial and commercial subnetworks behind three 20/0.4 kV transformers, one
  MV supply; K. Strunz et al., CIGRE TB 575, 2014);
* ``cigre_mv``, ``cigre_mv_pv_wind``: ``create_cigre_network_mv(with_der=False | "pv_wind")``,
  the CIGRE European MV benchmark, its two feeders operated radially (switches S1–S3 open),
  with the PV and wind units as fixed injections in the second. (``with_der="all"`` adds
  batteries, which a feeder leaves to the DER layer: refused, naming the storage unit);
* the Kerber networks ``kerber_landnetz_freileitung_1``, ``..._2``, ``kerber_landnetz_kabel_1``,
  ``..._2``, ``kerber_dorfnetz``, ``kerber_vorstadtnetz_kabel_1``, ``..._2``
  (``create_kerber_*()``; G. Kerber, "Aufnahmefähigkeit von Niederspannungsverteilnetzen für
  die Einspeisung aus Photovoltaikkleinanlagen", TU München, 2011). pandapower draws the cable
  type of each house connection at random (one of two types, 50 % each, Python's ``random``),
  so the catalogue builds every net with ``random`` seeded by :data:`RANDOM_SEED` (state
  restored afterwards): a name is the same feeder in every process;
* ``mv_oberrhein``: ``mv_oberrhein()``, a real German 20 kV network of two radial halves behind
  two 110/20 kV transformers: two supply points, two feeders (``mv_oberrhein/0`` and ``/1``).

Any other net of ``pandapower.networks`` that builds without arguments is reached as
``pandapower:<function>``, e.g. ``pandapower:simple_mv_open_ring_net`` or
``pandapower:lv_schutterwald`` (fourteen LV networks; one of them has a loop, which is refused
naming its lines).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from typing import Any

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.feeder import Feeder
from ptn.engines.power.pandapower_io import feeders_from_pandapower

#: seed of Python's ``random`` while a net is built (see :func:`seeded`)
RANDOM_SEED = 0
#: the prefix of the ``pandapower:<function>`` form
PANDAPOWER_PREFIX = "pandapower:"

#: name -> (function of pandapower.networks, keyword arguments)
PANDAPOWER_FEEDERS: dict[str, tuple[str, dict[str, Any]]] = {
    "cigre_lv": ("create_cigre_network_lv", {}),
    "cigre_mv": ("create_cigre_network_mv", {"with_der": False}),
    "cigre_mv_pv_wind": ("create_cigre_network_mv", {"with_der": "pv_wind"}),
    "kerber_landnetz_freileitung_1": ("create_kerber_landnetz_freileitung_1", {}),
    "kerber_landnetz_freileitung_2": ("create_kerber_landnetz_freileitung_2", {}),
    "kerber_landnetz_kabel_1": ("create_kerber_landnetz_kabel_1", {}),
    "kerber_landnetz_kabel_2": ("create_kerber_landnetz_kabel_2", {}),
    "kerber_dorfnetz": ("create_kerber_dorfnetz", {}),
    "kerber_vorstadtnetz_kabel_1": ("create_kerber_vorstadtnetz_kabel_1", {}),
    "kerber_vorstadtnetz_kabel_2": ("create_kerber_vorstadtnetz_kabel_2", {}),
    "mv_oberrhein": ("mv_oberrhein", {}),
}


def is_pandapower_name(spec: str) -> bool:
    """Whether ``spec`` names a pandapower net (a catalogue name or ``pandapower:<function>``)."""
    return spec in PANDAPOWER_FEEDERS or spec.startswith(PANDAPOWER_PREFIX)


def pandapower_network(spec: str) -> Any:
    """The pandapower net that ``spec`` names (a fresh one on every call)."""
    import pandapower.networks as pn

    if spec in PANDAPOWER_FEEDERS:
        function, arguments = PANDAPOWER_FEEDERS[spec]
        return seeded(getattr(pn, function), **arguments)
    if not spec.startswith(PANDAPOWER_PREFIX):
        raise InvalidInputError(f"{spec!r} is not a pandapower net name")
    function = spec[len(PANDAPOWER_PREFIX):]
    builder = getattr(pn, function, None) if not function.startswith("_") else None
    # only the net builders of pandapower.networks, not the helpers it imports (from_json, os)
    if not callable(builder) or not getattr(builder, "__module__", "").startswith(
        "pandapower.networks"
    ):
        raise InvalidInputError(
            f"unknown pandapower net {spec!r}: pandapower.networks has no net builder "
            f"{function!r} (e.g. {PANDAPOWER_PREFIX}create_cigre_network_lv)"
        )
    try:
        return seeded(builder)
    except TypeError as error:
        raise InvalidInputError(
            f"pandapower net {spec!r}: pandapower.networks.{function} needs arguments ({error}); "
            "build the net yourself, save it with pandapower.to_json and give the file"
        ) from error


def seeded(builder: Callable[..., Any], **arguments: Any) -> Any:
    """``builder(**arguments)`` with Python's ``random`` seeded by :data:`RANDOM_SEED` (and its
    state restored afterwards): the Kerber nets draw their house-connection cable types at
    random, so the same name gives the same net in every process."""
    state = random.getstate()
    random.seed(RANDOM_SEED)
    try:
        return builder(**arguments)
    finally:
        random.setstate(state)


@functools.cache
def pandapower_feeders(spec: str) -> tuple[Feeder, ...]:
    """The feeders of the pandapower net ``spec`` names, one per supply point (cached: treat
    them as read-only, or copy them)."""
    name = spec[len(PANDAPOWER_PREFIX):] if spec.startswith(PANDAPOWER_PREFIX) else spec
    feeders = feeders_from_pandapower(pandapower_network(spec), name)
    return feeders
