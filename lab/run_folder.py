"""Results folders that are never overwritten by surprise, and say what made them.

Why this module exists: ``ptn run``, ``ptn coordinate``, ``ptn study``, ``ptn opf --out`` and
:func:`ptn.run` all write a results folder, and a researcher's good results must survive a
second command with the same folder, a ``--force`` that fails, or a ``--resume`` that fails.
The rules (docs/results-folders.md):

* ``--out`` is checked before any work: a file, or a place that cannot be written, is refused at
  once naming it.
* A missing or empty folder is written in place.
* A non-empty folder named by ``--out`` (or ``out=``) is refused, naming it and suggesting
  ``--force`` (or another ``--out``, or ``--resume`` of its checkpoint). The default folder
  (``results/<scenario name>``, no ``--out``) never is: a taken default gives way to a new
  timestamped folder beside it, ``results/<name>-<YYYYmmddTHHMMSSZ>``, and the command says so
  (what users of experiment tools expect: no run lost, no flag needed).
* ``--force`` runs in a staging folder beside the target (``.<name>.partial-<stamp>``) and
  swaps it in when the run succeeds. ``--resume`` of the folder's own checkpoint continues the
  same run in place, unless the folder holds a good result: then it continues in a staging copy.
* A failed run (an error, or a status other than success) never replaces a good result (a
  ``summary.json`` whose ``manifest.json`` says ``ok``, or that has no manifest): its files go
  beside the good ones, to ``<name>.failed-<stamp>``.
* Every folder gets ``manifest.json``: the scenario's name, source and fingerprint, the ptn
  version, the command line, start and end time (UTC), status, Python and the versions of the
  numerical and transport packages that are installed.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from ptn.coordinator.results.index_page import SUMMARY_FILE
from ptn.engines.errors import InvalidInputError

MANIFEST_FILE = "manifest.json"
#: ptn's distribution name (:data:`ptn.DISTRIBUTION`; the lab does not import the package root)
PTN_DISTRIBUTION = "ptn-negotiation"
#: the packages whose versions a manifest records (those installed)
RECORDED_PACKAGES = ("numpy", "scipy", "pandas", "cvxpy", "clarabel", "pyomo", "highspy",
                     "pandapower", "numba", "ray", "grpcio", "protobuf")
#: a manifest's status of a run that succeeded (others: the run's own status, ``failed``,
#: ``interrupted``, ``running`` while it runs or after it was killed)
OK = "ok"


class FolderTakenError(InvalidInputError):
    """A results folder that holds results and may not be overwritten."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def utc_text(moment: datetime) -> str:
    """ISO 8601 in UTC to the second: ``2026-12-05T04:30:00Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def stamp(moment: datetime) -> str:
    """A folder-name timestamp: ``20261205T043000Z``."""
    return moment.strftime("%Y%m%dT%H%M%SZ")


def package_versions() -> dict[str, str]:
    """The installed versions of :data:`RECORDED_PACKAGES` (absent ones left out)."""
    versions: dict[str, str] = {}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def ptn_version() -> str:
    """The installed ptn's version (:data:`ptn.DISTRIBUTION`'s metadata)."""
    try:
        return metadata.version(PTN_DISTRIBUTION)
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a bare checkout
        return "unknown"


def is_occupied(folder: Path) -> bool:
    """A directory with anything in it."""
    return folder.is_dir() and any(folder.iterdir())


def holds_good_result(folder: Path) -> bool:
    """A ``summary.json`` of a successful run (its manifest says ``ok``; a folder written
    before manifests existed counts as good)."""
    if not (folder / SUMMARY_FILE).is_file():
        return False
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text("utf-8"))
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        return True  # unreadable: keep it rather than guess
    return not isinstance(manifest, dict) or manifest.get("status") == OK


def check_writable(path: Path, option: str = "--out") -> None:
    """Refuse, naming ``path``, a results folder that is a file, lies under a file, or cannot
    be created or written (by creating it and writing a probe file: no guess from mode bits)."""
    if path.exists() and not path.is_dir():
        raise InvalidInputError(f"{option} {path}: exists and is not a directory (a results "
                                "folder is a directory)")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InvalidInputError(f"{option} {path}: {parent} is a file, not a directory")
            break
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".ptn-write-probe-{os.getpid()}"
        probe.write_text("", encoding="utf-8")
        probe.unlink()
    except OSError as error:
        raise InvalidInputError(f"{option} {path}: cannot write there "
                                f"({error.strerror or error})") from error


def free_default_folder(default: Path, moment: datetime | None = None) -> Path:
    """``default`` when it is free, else a new timestamped folder beside it."""
    if not is_occupied(default):
        return default
    when = moment or utc_now()
    candidate = default.with_name(f"{default.name}-{stamp(when)}")
    number = 2
    while candidate.exists():
        candidate = default.with_name(f"{default.name}-{stamp(when)}-{number}")
        number += 1
    return candidate


def refusal(target: Path, option: str = "--out", resumable: bool = True) -> str:
    """Why a folder holding results is not written, and what to do instead."""
    contents = sorted(entry.name for entry in target.iterdir())
    shown = ", ".join(contents[:4]) + (", ..." if len(contents) > 4 else "")
    also = (f", or --resume {target / 'checkpoint.json'} to continue its run"
            if resumable and (target / "checkpoint.json").exists() else "")
    return (f"{option} {target}: the folder already holds results ({shown}); choose another "
            f"{option}, pass --force to replace them{also}")


@dataclass
class RunFolder:
    """One run's results folder: where it ends up (``target``) and where the run writes now
    (``working``: the target itself, or a staging folder beside it)."""

    target: Path
    working: Path
    mode: str  # "fresh", "replace" (--force) or "resume"
    manifest: dict[str, Any] = field(default_factory=dict)
    started: datetime = field(default_factory=utc_now)
    #: where the run's results ended (after :meth:`finish`)
    final: Path | None = None
    #: the working folder did not exist before this run
    created: bool = False

    @property
    def staged(self) -> bool:
        return self.working != self.target

    def resume_path(self, checkpoint: Path | None) -> Path | None:
        """The checkpoint to resume from: the staging copy's when the run was staged."""
        if checkpoint is None or not self.staged:
            return checkpoint
        copied = self.working / checkpoint.name
        return copied if copied.exists() else checkpoint

    def write_manifest(self, status: str, message: str = "",
                       ended: datetime | None = None) -> None:
        self.manifest.update(status=status, message=message,
                             ended_utc=utc_text(ended) if ended is not None else None)
        if self.final is not None:
            self.manifest["folder"] = str(self.final)
        (self.working / MANIFEST_FILE).write_text(
            json.dumps(self.manifest, indent=2) + "\n", encoding="utf-8")

    def finish(self, status: str, message: str = "") -> Path:
        """Record the run's end and move its files into place: a successful run (``status``
        ``ok``) replaces the target; a failed one does only when the target holds no good
        result, else goes beside it. The folder holding this run's results."""
        ended = utc_now()
        if not self.staged or status == OK or not holds_good_result(self.target):
            self.final = self.target
        else:
            self.final = self.target.with_name(f"{self.target.name}.failed-{stamp(ended)}")
            self.manifest["kept"] = (f"{self.target} holds a good result: this run's files are "
                                     "beside it")
        self.write_manifest(status, message, ended)
        if self.staged:
            self._move_into_place(self.final)
        return self.final

    @contextmanager
    def running(self) -> Iterator[RunFolder]:
        """The run's body: an exception ends it as ``failed`` (``interrupted`` on Ctrl-C),
        moved as :meth:`finish` says, and goes on; a run that wrote nothing but its manifest
        (refused input) leaves no folder behind."""
        try:
            yield self
        except BaseException as error:
            if self._wrote_nothing():
                self._discard()
            else:
                interrupted = isinstance(error, KeyboardInterrupt)
                self.finish("interrupted" if interrupted else "failed",
                            str(error) or type(error).__name__)
            raise

    def _wrote_nothing(self) -> bool:
        return all(entry.name == MANIFEST_FILE for entry in self.working.iterdir()) \
            if self.working.is_dir() else True

    def _discard(self) -> None:
        (self.working / MANIFEST_FILE).unlink(missing_ok=True)
        if self.staged or self.created:
            shutil.rmtree(self.working, ignore_errors=True)

    def _move_into_place(self, final: Path) -> None:
        if final == self.target and self.target.exists():
            retired = self.target.with_name(f".{self.target.name}.old-{stamp(utc_now())}")
            self.target.rename(retired)
            self.working.rename(self.target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            self.working.rename(final)


def prepare_run_folder(out: Path, *, force: bool = False, resume: Path | None = None,
                       scenario: Any = None, inputs: dict[str, Any] | None = None,
                       option: str = "--out", command: str | None = None) -> RunFolder:
    """Decide where a run writes (checked and created before any work) and start its manifest
    (status ``running``). ``scenario``: a loaded scenario document (its name, source,
    fingerprint, mechanism and periods go to the manifest); ``resume``: the checkpoint the run
    continues from (resuming the folder's own is allowed in a non-empty folder)."""
    target = Path(out)
    existed = target.exists()
    check_writable(target, option)
    started = utc_now()
    resumes_here = resume is not None and Path(resume).resolve().parent == target.resolve()
    if not is_occupied(target):
        mode, working = "fresh", target
    elif resumes_here:
        mode = "resume"
        working = _staging(target, started) if holds_good_result(target) else target
        if working != target:
            shutil.copytree(target, working, symlinks=True)
    elif force:
        mode, working = "replace", _staging(target, started)
        working.mkdir()
    else:
        raise FolderTakenError(refusal(target, option))
    folder = RunFolder(target, working, mode, started=started,
                       created=working != target or not existed)
    folder.manifest = {
        "ptn_manifest": 1,
        "folder": str(target),
        "command": command if command is not None else shlex.join(sys.argv),
        "mode": mode,
        "resumed_from": str(resume) if resume is not None else None,
        "scenario": scenario_facts(scenario),
        **({"inputs": inputs} if inputs is not None else {}),
        "ptn_version": ptn_version(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
        "started_utc": utc_text(started),
    }
    folder.write_manifest("running")
    return folder


def file_fingerprint(path: Path) -> dict[str, Any]:
    """A file's path and SHA-256 (None when it cannot be read: the command says why)."""
    import hashlib

    try:
        digest: str | None = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        digest = None
    return {"path": str(path), "sha256": digest}


def _staging(target: Path, moment: datetime) -> Path:
    return target.with_name(f".{target.name}.partial-{stamp(moment)}-{os.getpid()}")


def scenario_facts(scenario: Any) -> dict[str, Any] | None:
    """Name, source, fingerprint, mechanism and periods of a scenario document (None: none)."""
    if scenario is None:
        return None
    return {"name": scenario.public.name, "source": str(scenario.source),
            "fingerprint": scenario.fingerprint, "mechanism": scenario.coordinator.mechanism,
            "periods": scenario.public.periods}
