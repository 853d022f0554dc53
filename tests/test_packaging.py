"""The distribution: one import root ``ptn``, a wheel with nothing else, and ``ptn --version``.

Independent checks: the package list is compared with the folders on disk (not with itself), and
the wheel is built by pip from a copy of the repository's tracked files, as a user installs it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from tests.support import REPOSITORY, package_directories

DISTRIBUTION = "ptn-negotiation"


def listed_packages() -> set[str]:
    import tomllib

    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text(encoding="utf-8"))
    return set(project["tool"]["setuptools"]["packages"])


def packages_on_disk() -> set[str]:
    found = set()
    for package, folder in package_directories().items():
        for init in folder.rglob("__init__.py"):
            relative = init.parent.relative_to(folder)
            if "__pycache__" in relative.parts:
                continue
            found.add(".".join((package, *relative.parts)))
    return found


def test_every_package_folder_is_listed_and_nothing_else() -> None:
    assert listed_packages() == packages_on_disk()


def test_one_import_root() -> None:
    assert set(package_directories()) <= {p for p in listed_packages() if p.count(".") <= 1}
    assert all(p == "ptn" or p.startswith("ptn.") for p in listed_packages())


def test_version_names_the_distribution() -> None:
    finished = subprocess.run([sys.executable, "-m", "ptn", "--version"], capture_output=True,
                              text=True, check=False)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == f"ptn {metadata.version(DISTRIBUTION)} ({DISTRIBUTION})"


def test_a_users_own_top_level_folders_do_not_shadow_ptn(tmp_path: Path) -> None:
    """``python -m`` puts the working directory first on sys.path: a user's ``services/`` or
    ``coordinator/`` package there must not replace ptn's (the built-in scenario is found)."""
    for name in ("services", "engines", "coordinator", "negotiation"):
        (tmp_path / name / "scenarios").mkdir(parents=True)
        (tmp_path / name / "__init__.py").write_text("raise ImportError('the user's own')\n")
    finished = subprocess.run([sys.executable, "-m", "ptn", "run", "--show-scenario"],
                              cwd=tmp_path, capture_output=True, text=True, check=False)
    assert finished.returncode == 0, finished.stderr
    assert 'name = "nguyen-dupuis-ieee33"' in finished.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel pip builds from the repository's tracked files."""
    source = tmp_path_factory.mktemp("source")
    tracked = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], cwd=REPOSITORY, capture_output=True,
                             check=False)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    for name in tracked.stdout.decode().split("\0"):
        if name and (REPOSITORY / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPOSITORY / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-q", "-w", str(out), str(source)],
                           capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    (path,) = out.glob("*.whl")
    return path


def test_the_wheel_holds_only_ptn_and_its_metadata(wheel: Path) -> None:
    assert wheel.name.startswith("ptn_negotiation-")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"ptn", f"ptn_negotiation-{metadata.version(DISTRIBUTION)}.dist-info"}
    for needed in ("ptn/__init__.py", "ptn/py.typed", "ptn/engines/traffic/tntp.py",
                   "ptn/protocol/v1/services_pb2.py", "ptn/services/host.py",
                   "ptn/cli/app.py", "ptn/scenarios/nguyen-dupuis-ieee33.toml",
                   "ptn/scenarios/der/seed002-ieee33.toml", "ptn/lab/references/joint.py"):
        assert needed in names
    assert not any(name.endswith("regenerate.py") for name in names)


def test_the_generated_code_imports_its_siblings_relatively(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    for name in archive.namelist():
        if name.startswith("ptn/protocol/v1/") and name.endswith(".py"):
            assert "from negotiation" not in archive.read(name).decode(), name
