"""One operator's noisy releases of one datum: its plan's noise, its own stream, its own budget.

Why this module exists: the mechanisms (ADMM, the pricing game) will call one thing per round
where an operator sends a protected datum. :class:`PrivateRelease` ties the pieces together so
that no mechanism re-implements them: the round's noise comes from the settings' split
(:meth:`~ptn.engines.privacy.settings.PrivacySettings.plan`), drawn from the operator's own
stream (seed, ``operator/datum``), and every release is charged to the operator's accountant
first; a release past the budget is refused as a status (no values, no draw).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from ptn.engines.errors import InvalidInputError
from ptn.engines.privacy.accountant import PrivacyAccountant, PrivacySpent
from ptn.engines.privacy.noise import FloatArray, checked_values, noise_generator
from ptn.engines.privacy.settings import DatumName, PrivacySettings, RoundPlan


@dataclass(frozen=True)
class Release:
    """A round's answer: ``released`` with the (noisy) values, or ``refused`` (budget spent)
    with none; ``spent`` is the privacy spent after it."""

    status: Literal["released", "refused"]
    values: FloatArray | None
    spent: PrivacySpent
    reason: str = ""


class PrivateRelease:
    """The releases of datum ``datum`` by operator ``operator_id`` (of role ``role``) of
    (rows × ``periods``) arrays, for a run of at most ``default_rounds`` rounds."""

    def __init__(self, settings: PrivacySettings, role: str, operator_id: str,
                 datum: DatumName, periods: int, default_rounds: int) -> None:
        protected = settings.datum(datum)
        if protected is not None and role not in protected.owners:
            raise InvalidInputError(f"role {role!r} does not own {datum} (owners: "
                                    f"{', '.join(protected.owners)})")
        self.periods = periods
        self.plan: RoundPlan = settings.plan(datum, periods, default_rounds)
        self.accountant = PrivacyAccountant(self.plan.budget)
        self.generator: np.random.Generator = noise_generator(
            settings.seed, settings.stream(operator_id, datum))

    def release(self, values: ArrayLike) -> Release:
        """The values to send this round: noised and charged, unchanged when the datum is not
        protected (or ε = ∞), or refused past the budget."""
        array = checked_values(values)
        if array.ndim == 0 or array.shape[-1] != self.periods:
            raise InvalidInputError(f"values: expected (rows × {self.periods} periods), got "
                                    f"shape {array.shape}")
        mechanism = self.plan.mechanism
        if mechanism is None:
            return Release("released", array, self.accountant.spent())
        admission = self.accountant.charge(mechanism.cost)
        if admission.status == "refused":
            return Release("refused", None, admission.spent, admission.reason)
        return Release("released", mechanism.release(array, self.generator), admission.spent)
