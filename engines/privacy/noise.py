"""Seeded noise streams and the release of a noisy array: Laplace and Gaussian mechanisms.

Why this module exists: the operator that owns a datum adds the noise inside its own process,
and an experiment must be repeatable: each operator draws from its own stream, made from the
scenario's seed and a stream name (e.g. ``"traffic/station_loads"``) by numpy's SeedSequence
(the name hashed into its spawn key), so a stream is reproducible from (seed, name) and
independent of every other name's (O'Neill 2014, PCG; numpy's SeedSequence design).

A mechanism is calibrated once (:mod:`ptn.engines.privacy.calibration`) and releases an array
per round; its :attr:`cost` is what the accountant charges. At ε = ∞ (or a zero sensitivity)
no noise is drawn and the release is the input unchanged, bit for bit, and the stream is not
advanced.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ptn.engines.errors import InvalidInputError
from ptn.engines.privacy.accountant import RoundCost
from ptn.engines.privacy.calibration import (
    analytic_gaussian_sigma,
    check_delta,
    check_epsilon,
    classic_gaussian_sigma,
    gaussian_epsilon,
    gaussian_rho,
    laplace_scale,
    sigma_for_rho,
)
from ptn.engines.privacy.sensitivity import Sensitivity

FloatArray = NDArray[np.float64]
GaussianCalibration = Literal["analytic", "classic"]


def noise_generator(seed: int, stream: str) -> np.random.Generator:
    """The generator of stream ``stream`` under ``seed``: the same pair, the same draws; two
    names, independent draws (SeedSequence(seed, spawn_key=sha256(name)))."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidInputError(f"seed: expected an integer >= 0, got {seed!r}")
    if not isinstance(stream, str) or not stream:
        raise InvalidInputError(f"stream: expected a non-empty name, got {stream!r}")
    digest = hashlib.sha256(stream.encode("utf-8")).digest()
    words = tuple(int.from_bytes(digest[i:i + 4], "little") for i in range(0, len(digest), 4))
    sequence = np.random.SeedSequence(entropy=int(seed), spawn_key=words)
    return np.random.Generator(np.random.PCG64(sequence))


def checked_values(values: ArrayLike) -> FloatArray:
    """The released values as a float array, refusing NaN and infinities."""
    try:
        array = np.array(values, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(f"values: expected an array of numbers ({error})") from error
    if not np.all(np.isfinite(array)):
        raise InvalidInputError("values: expected finite numbers, got NaN or infinity")
    return array


@dataclass(frozen=True)
class LaplaceMechanism:
    """ε-DP release: each entry plus Laplace noise of scale Δ1/ε (Dwork & Roth 2014, Thm 3.6)."""

    sensitivity: Sensitivity
    epsilon: float

    def __post_init__(self) -> None:
        check_epsilon(self.epsilon)

    @property
    def scale(self) -> float:
        """The Laplace scale b (0: no noise)."""
        return laplace_scale(self.sensitivity.l1, self.epsilon)

    @property
    def cost(self) -> RoundCost:
        return RoundCost.laplace(self.epsilon)

    def release(self, values: ArrayLike, generator: np.random.Generator) -> FloatArray:
        """``values`` plus independent Laplace noise per entry, drawn from ``generator``."""
        array = checked_values(values)
        scale = self.scale
        if scale == 0:
            return array
        return array + generator.laplace(0.0, scale, size=array.shape)


@dataclass(frozen=True)
class GaussianMechanism:
    """(ε, δ)-DP and ρ-zCDP release: each entry plus Gaussian noise of standard deviation σ.

    Build it with :meth:`calibrated` (σ for a stated (ε, δ), analytic or classic) or
    :meth:`for_rho` (σ for a ρ of zCDP, its (ε, δ) the exact one at the δ given)."""

    sensitivity: Sensitivity
    sigma: float
    epsilon: float
    delta: float

    def __post_init__(self) -> None:
        check_epsilon(self.epsilon)
        check_delta(self.delta)
        if not math.isfinite(self.sigma) or self.sigma < 0:
            raise InvalidInputError(f"sigma: expected a finite number >= 0, got {self.sigma!r}")

    @classmethod
    def calibrated(cls, sensitivity: Sensitivity, epsilon: float, delta: float,
                   calibration: GaussianCalibration = "analytic") -> GaussianMechanism:
        """σ for (ε, δ): Balle & Wang's analytic σ (any ε), or the classic one (ε < 1)."""
        if calibration == "analytic":
            sigma = analytic_gaussian_sigma(sensitivity.l2, epsilon, delta)
        elif calibration == "classic":
            sigma = classic_gaussian_sigma(sensitivity.l2, epsilon, delta)
        else:
            raise InvalidInputError(f"calibration: expected analytic or classic, got "
                                    f"{calibration!r}")
        return cls(sensitivity, sigma, float(epsilon), float(delta))

    @classmethod
    def for_rho(cls, sensitivity: Sensitivity, rho: float, delta: float) -> GaussianMechanism:
        """σ = Δ2/sqrt(2ρ), stated as (ε, δ)-DP with the exact ε of that σ at ``delta``."""
        sigma = sigma_for_rho(sensitivity.l2, rho)
        return cls(sensitivity, sigma, gaussian_epsilon(sensitivity.l2, sigma, delta),
                   float(delta))

    @property
    def cost(self) -> RoundCost:
        return RoundCost(self.epsilon, self.delta, gaussian_rho(self.sensitivity.l2, self.sigma))

    def release(self, values: ArrayLike, generator: np.random.Generator) -> FloatArray:
        """``values`` plus independent N(0, σ²) noise per entry, drawn from ``generator``."""
        array = checked_values(values)
        if self.sigma == 0:
            return array
        return array + generator.normal(0.0, self.sigma, size=array.shape)
