"""Checkpoints: a negotiation's state after every driver round, to resume it after a crash.

Why this module exists: a coordinator may be killed (a node lost, a deployment rolled) in the middle
of a negotiation that took minutes of operators' solves. After every driver round the driver writes
everything needed to continue: the mechanism's state, atomically (write, fsync, rename, fsync the
directory: a crash leaves the previous checkpoint or the new one, never half of one, and a rename
that returned survives a power cut), and the round's record appended to a companion file
(``<checkpoint>.rounds.jsonl``; the checkpoint counts the records it covers, so a record appended
just before a crash is ignored). Appending keeps a checkpoint's cost per round constant, however
long the negotiation. A checkpoint names its scenario by a fingerprint of the scenario's content
(:attr:`ptn.scenario.document.Scenario.fingerprint`), so resuming with another scenario is refused
instead of producing numbers that belong to neither.

Integrity (version 3): the checkpoint stores a SHA-256 of its own content (every key but
``sha256``, as canonical JSON) and a SHA-256 of the first ``records`` lines of the records file, so
a truncated, bit-flipped, edited or spliced checkpoint or records file is refused with one error
naming the file, never resumed with other numbers. Temporary files of writers that died before
their rename (``.<checkpoint>.<pid>.tmp``) are removed when the next writer opens.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ptn.coordinator.outcome import RoundRecord
from ptn.engines.errors import InvalidInputError

#: 3: checksums of the checkpoint and of its round records; 2: generic round records, the
#: scenario's fingerprint, every mechanism; 1: ADMM only
CHECKPOINT_VERSION = 3

#: the keys of a checkpoint file and the JSON types their values must have
_FIELDS: dict[str, type | tuple[type, ...]] = {
    "version": int, "negotiation_id": str, "mechanism": str, "scenario": str,
    "scenario_fingerprint": str, "round": int, "records": int, "records_sha256": str,
    "mechanism_state": dict, "sha256": str,
}
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


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


def content_digest(payload: dict[str, Any]) -> str:
    """SHA-256 of a checkpoint's content: every key but ``sha256``, as canonical JSON (sorted
    keys, no spaces; floats as Python writes them, which read back to the same values)."""
    content = {key: value for key, value in payload.items() if key != "sha256"}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new file in ``directory`` durable (POSIX: the entry lives in the
    directory, which has its own buffers)."""
    descriptor = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temporary files (``.<name>.<pid>.tmp``) that writers of ``path`` left when they
    died before their rename (this process's own too; live processes' are kept); returns them."""
    pattern = re.compile(rf"\.{re.escape(path.name)}(?:\.rounds\.jsonl)?\.(\d+)\.tmp")
    removed = []
    for candidate in path.parent.glob(f".{path.name}*.tmp"):
        match = pattern.fullmatch(candidate.name)
        if match is None:
            continue
        pid = int(match.group(1))
        if pid == os.getpid() or not _process_alive(pid):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def _write_durably(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` atomically and durably (tmp, fsync, rename, fsync dir)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_directory(path.parent)


class CheckpointWriter:
    """Writes a negotiation's checkpoints at ``path``, keeping the first ``kept_rounds`` records
    already in its companion file (a resumed run's) and dropping any beyond them."""

    def __init__(self, path: Path, kept_rounds: int = 0) -> None:
        self.path = path
        self.records = rounds_path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        kept: list[bytes] = []
        if kept_rounds and self.records.exists():
            with self.records.open("rb") as handle:
                kept = [line for _, line in zip(range(kept_rounds), handle, strict=False)]
        self.digest = hashlib.sha256()
        for line in kept:
            self.digest.update(line)
        _write_durably(self.records, b"".join(kept))
        self.count = len(kept)

    def write(self, checkpoint: Checkpoint, new_records: list[RoundRecord]) -> None:
        """Append ``new_records`` and replace the checkpoint by ``checkpoint`` (whose rounds are
        the records written so far)."""
        if new_records:
            lines = "".join(json.dumps(record_to_json(r)) + "\n"
                            for r in new_records).encode("utf-8")
            with self.records.open("ab") as handle:
                handle.write(lines)
                handle.flush()
                os.fsync(handle.fileno())
            self.digest.update(lines)
            self.count += len(new_records)
        payload: dict[str, Any] = {
            "version": CHECKPOINT_VERSION,
            "negotiation_id": checkpoint.negotiation_id,
            "mechanism": checkpoint.mechanism,
            "scenario": checkpoint.scenario,
            "scenario_fingerprint": checkpoint.scenario_fingerprint,
            "round": checkpoint.round,
            "records": self.count,
            "records_sha256": self.digest.hexdigest(),
            "mechanism_state": checkpoint.mechanism_state,
        }
        # the digest is of the content as it reads back (JSON turns keys into strings)
        payload = json.loads(json.dumps(payload))
        payload["sha256"] = content_digest(payload)
        _write_durably(self.path, json.dumps(payload).encode("utf-8"))


def read_checkpoint(path: Path | str) -> Checkpoint:
    """A checkpoint written by :class:`CheckpointWriter`, verified against its checksums;
    anything else (missing, truncated, edited, of another version) raises one
    :class:`InvalidInputError` naming the file."""
    path = Path(path)
    payload = _verified_payload(path)
    count = payload["records"]
    return Checkpoint(
        negotiation_id=payload["negotiation_id"], mechanism=payload["mechanism"],
        scenario=payload["scenario"], scenario_fingerprint=payload["scenario_fingerprint"],
        round=payload["round"], mechanism_state=payload["mechanism_state"],
        rounds=read_records(rounds_path(path), count, payload["records_sha256"]))


def _verified_payload(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InvalidInputError(f"cannot read checkpoint {path}: "
                                f"{(error.strerror or str(error)).lower()}") from error
    if not data.strip():
        raise InvalidInputError(f"{path}: not a checkpoint (the file is empty)")
    try:
        payload = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise InvalidInputError(f"{path}: not a checkpoint (not UTF-8 text at byte "
                                f"{error.start})") from error
    except json.JSONDecodeError as error:
        raise InvalidInputError(f"{path}:{error.lineno}: not a checkpoint ({error.msg})") \
            from error
    except RecursionError as error:
        raise InvalidInputError(f"{path}: not a checkpoint (nested too deeply)") from error
    if not isinstance(payload, dict) or "version" not in payload:
        raise InvalidInputError(f"{path}: not a ptn checkpoint (no version)")
    version = payload["version"]
    if version != CHECKPOINT_VERSION or isinstance(version, bool):
        older = (" (written by an older ptn, without checksums: rerun the negotiation)"
                 if version in (1, 2) else "")
        raise InvalidInputError(f"{path}: a checkpoint of version {version!r}, this ptn reads "
                                f"version {CHECKPOINT_VERSION}{older}")
    for key, kind in _FIELDS.items():
        value = payload.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise InvalidInputError(f"{path}: a damaged checkpoint ({key!r} is "
                                    f"{'missing' if key not in payload else type(value).__name__}"
                                    f", not {getattr(kind, '__name__', kind)})")
    if payload["sha256"] != content_digest(payload):
        raise InvalidInputError(f"{path}: a damaged checkpoint (its content does not match its "
                                "sha256: truncated, edited or spliced)")
    extra = sorted(set(payload) - set(_FIELDS))
    if extra or payload["round"] < 0 or not 0 <= payload["records"] <= payload["round"] \
            or not _HEX_DIGEST.fullmatch(payload["records_sha256"]):
        raise InvalidInputError(f"{path}: a damaged checkpoint (inconsistent round "
                                f"{payload['round']}, records {payload['records']}"
                                f"{', keys ' + ', '.join(extra) if extra else ''})")
    return payload


def read_records(path: Path, count: int, sha256: str) -> tuple[RoundRecord, ...]:
    """The first ``count`` round records of a records file, verified against the digest the
    checkpoint stores (lines beyond them, appended just before a crash, are ignored)."""
    digest = hashlib.sha256()
    lines: list[bytes] = []
    try:
        with path.open("rb") as handle:
            for _, line in zip(range(count), handle, strict=False):
                digest.update(line)
                lines.append(line)
    except OSError as error:
        if count:
            raise InvalidInputError(f"cannot read the round records {path}: "
                                    f"{(error.strerror or str(error)).lower()}") from error
    if len(lines) < count or (lines and not lines[-1].endswith(b"\n")):
        raise InvalidInputError(f"{path}: holds {len(lines)} complete of the checkpoint's "
                                f"{count} round records (truncated)")
    if digest.hexdigest() != sha256:
        raise InvalidInputError(f"{path}: its first {count} round records do not match the "
                                "checkpoint's records_sha256 (edited, reordered or of another "
                                "run)")
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            records.append(record_from_json(json.loads(line.decode("utf-8"))))
        except (UnicodeDecodeError, json.JSONDecodeError, AttributeError, KeyError,
                TypeError, ValueError) as error:
            raise InvalidInputError(f"{path}:{number}: a damaged round record "
                                    f"({type(error).__name__}: {error})") from error
    return tuple(records)


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
