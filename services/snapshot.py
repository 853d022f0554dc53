"""Reading a model's snapshot back: checked JSON values (keys, matrices) for ``restore``.

Why this module exists: an operator's :meth:`~ptn.services.contract.Operator.restore` reads the
JSON its :meth:`~ptn.services.contract.Operator.snapshot` wrote, from a file that may be stale or
damaged; every role checks the same things (required keys, arrays of the right shape, finite
numbers) and names the item that is wrong, in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ptn.engines.coupling import CouplingTerms
from ptn.engines.errors import InvalidInputError
from ptn.services.contract import FloatArray


def require_keys(data: Any, keys: Sequence[str], what: str) -> None:
    """Refuse anything but a dict holding every key of ``keys``."""
    if not isinstance(data, dict):
        raise InvalidInputError(f"{what}: expected a JSON object, got {type(data).__name__}")
    missing = [key for key in keys if key not in data]
    if missing:
        raise InvalidInputError(f"{what}: missing {missing[0]!r}")


def float_matrix(data: Any, shape: tuple[int, ...], what: str) -> FloatArray:
    """A finite float array of ``shape`` from nested lists."""
    try:
        array = np.array(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{what}: expected numbers") from None
    if array.shape != shape:
        raise InvalidInputError(f"{what}: shape {array.shape}, expected {shape}")
    if not np.isfinite(array).all():
        raise InvalidInputError(f"{what}: values are not finite")
    return array


def float_matrices(data: Any, shape: tuple[int, ...], what: str) -> list[FloatArray]:
    """A list of :func:`float_matrix` values."""
    if not isinstance(data, list):
        raise InvalidInputError(f"{what}: expected a list")
    return [float_matrix(item, shape, f"{what}[{k}]") for k, item in enumerate(data)]


def solve_inputs_to_json(inputs: CouplingTerms | FloatArray | None,
                         array_key: str) -> dict[str, Any] | None:
    """The inputs of a model's latest state-defining solve: an ADMM step's coupling terms
    (``{"coupling": ...}``) or an array (``{array_key: ...}``, e.g. a dispatch's loads)."""
    if inputs is None:
        return None
    if isinstance(inputs, CouplingTerms):
        return {"coupling": inputs.to_json()}
    return {array_key: inputs.tolist()}


def solve_inputs_from_json(data: Any, array_key: str, shape: tuple[int, ...]
                           ) -> CouplingTerms | FloatArray | None:
    """What :func:`solve_inputs_to_json` wrote, checked."""
    if data is None:
        return None
    if isinstance(data, dict) and "coupling" in data:
        return CouplingTerms.from_json(data["coupling"])
    if isinstance(data, dict) and array_key in data:
        return float_matrix(data[array_key], shape, f"last_solve.{array_key}")
    raise InvalidInputError(f"last_solve: expected {{coupling}} or {{{array_key}}}")
