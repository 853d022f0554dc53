"""Checkpoints: a negotiation's state after every driver round, to resume it after a crash.

Why this module exists: a coordinator may be killed (a node lost, a deployment rolled) in the middle
of a negotiation that took minutes of operators' solves. After every driver round the driver writes
everything needed to continue: the mechanism's state, atomically (write, fsync, rename: a crash
leaves the previous checkpoint or the new one, never half of one), and the round's record appended
to a companion file (``<checkpoint>.rounds.jsonl``; the checkpoint counts the records it covers, so
a record appended just before a crash is ignored). Appending keeps a checkpoint's cost per round
constant, however long the negotiation. A checkpoint names its scenario by a fingerprint of the
scenario's content (:attr:`ptn.scenario.document.Scenario.fingerprint`), so resuming with another
scenario is refused instead of producing numbers that belong to neither.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ptn.coordinator.outcome import RoundRecord
from ptn.engines.errors import InvalidInputError

#: 2: generic round records, the scenario's fingerprint, every mechanism (1: ADMM only)
CHECKPOINT_VERSION = 2


@dataclass(frozen=True)
class Checkpoint:
    """A negotiation as of the end of driver round ``round``."""

    negotiation_id: str
    mechanism: str
    scenario: str
    scenario_fingerprint: str
    round: int
    mechanism_state: dict[str, Any]
    rounds: tuple[RoundRecord, ...]

    def check_matches(self, scenario_name: str, fingerprint: str, mechanism: str,
                      path: Path | str) -> None:
        """Refuse to resume another scenario's or mechanism's negotiation (naming both)."""
        if self.scenario_fingerprint != fingerprint:
            which = (f"another version of scenario {scenario_name!r}"
                     if self.scenario == scenario_name else f"scenario {self.scenario!r}")
            raise InvalidInputError(
                f"{path}: the checkpoint was written for {which} (fingerprint "
                f"{self.scenario_fingerprint}), not for this {scenario_name!r} (fingerprint "
                f"{fingerprint}): resume with the scenario it was written for")
        if self.mechanism != mechanism:
            raise InvalidInputError(f"{path}: the checkpoint is of mechanism "
                                    f"{self.mechanism!r}, the scenario's is {mechanism!r}")


def rounds_path(path: Path) -> Path:
    """The companion file of a checkpoint's round records."""
    return path.with_name(f"{path.name}.rounds.jsonl")


class CheckpointWriter:
    """Writes a negotiation's checkpoints at ``path``, keeping the first ``kept_rounds`` records
    already in its companion file (a resumed run's) and dropping any beyond them."""

    def __init__(self, path: Path, kept_rounds: int = 0) -> None:
        self.path = path
        self.records = rounds_path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        kept = []
        if kept_rounds and self.records.exists():
            with self.records.open(encoding="utf-8") as handle:
                kept = [line for _, line in zip(range(kept_rounds), handle, strict=False)]
        self.records.write_text("".join(kept), encoding="utf-8")
        self.count = len(kept)

    def write(self, checkpoint: Checkpoint, new_records: list[RoundRecord]) -> None:
        """Append ``new_records`` and replace the checkpoint by ``checkpoint`` (whose rounds are
        the records written so far)."""
        if new_records:
            with self.records.open("a", encoding="utf-8") as handle:
                handle.write("".join(json.dumps(record_to_json(r)) + "\n" for r in new_records))
                handle.flush()
                os.fsync(handle.fileno())
            self.count += len(new_records)
        payload = {
            "version": CHECKPOINT_VERSION,
            "negotiation_id": checkpoint.negotiation_id,
            "mechanism": checkpoint.mechanism,
            "scenario": checkpoint.scenario,
            "scenario_fingerprint": checkpoint.scenario_fingerprint,
            "round": checkpoint.round,
            "records": self.count,
            "mechanism_state": checkpoint.mechanism_state,
        }
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            handle.write(json.dumps(payload))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)


def read_checkpoint(path: Path | str) -> Checkpoint:
    """A checkpoint written by :class:`CheckpointWriter` (errors name the file)."""
    path = Path(path)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InvalidInputError(f"cannot read checkpoint {path}: "
                                f"{(error.strerror or str(error)).lower()}") from error
    except json.JSONDecodeError as error:
        raise InvalidInputError(f"{path}:{error.lineno}: not a checkpoint ({error.msg})") \
            from error
    if not isinstance(payload, dict) or payload.get("version") != CHECKPOINT_VERSION:
        raise InvalidInputError(f"{path}: not a ptn checkpoint of version {CHECKPOINT_VERSION}")
    try:
        count = int(payload["records"])
        records: list[RoundRecord] = []
        if count:
            with rounds_path(path).open(encoding="utf-8") as handle:
                records = [record_from_json(json.loads(line))
                           for _, line in zip(range(count), handle, strict=False)]
        if len(records) != count:
            raise ValueError(f"{rounds_path(path).name} holds {len(records)} of its {count} "
                             "round records")
        return Checkpoint(
            negotiation_id=str(payload["negotiation_id"]), mechanism=str(payload["mechanism"]),
            scenario=str(payload["scenario"]),
            scenario_fingerprint=str(payload["scenario_fingerprint"]),
            round=int(payload["round"]), mechanism_state=dict(payload["mechanism_state"]),
            rounds=tuple(records))
    except (OSError, KeyError, TypeError, ValueError) as error:
        raise InvalidInputError(f"{path}: a damaged checkpoint ({type(error).__name__}: "
                                f"{error})") from error


def record_to_json(record: RoundRecord) -> dict[str, Any]:
    """A round record as JSON-able values (arrays as nested lists)."""
    return {
        "round": record.round, "seconds": record.seconds, "stage": record.stage,
        "values": dict(record.values),
        "price_per_mwh": np.asarray(record.price_per_mwh).tolist(),
        "load_mw": {k: np.asarray(v).tolist() for k, v in record.load_mw.items()},
        "series": {k: np.asarray(v).tolist() for k, v in record.series.items()},
    }


def record_from_json(data: dict[str, Any]) -> RoundRecord:
    """The inverse of :func:`record_to_json`."""
    return RoundRecord(
        round=int(data["round"]), seconds=float(data["seconds"]), stage=str(data["stage"]),
        values={k: float(v) for k, v in data["values"].items()},
        price_per_mwh=np.asarray(data["price_per_mwh"], dtype=np.float64),
        load_mw={k: np.asarray(v, dtype=np.float64) for k, v in data["load_mw"].items()},
        series={k: np.asarray(v, dtype=np.float64) for k, v in data["series"].items()},
    )
