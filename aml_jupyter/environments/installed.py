"""Whether the submitting Python already has some packages (what a framework estimator or a
curated environment asks for): then a run needs no build, and no heavy framework is fetched."""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib import metadata

_CONDA_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)\s*=\s*([^=<>!~\s]+)$")


def installed_version(package: str) -> str | None:
    """The version of ``package`` in this Python, or None."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _requirement(entry: str) -> str:
    """A conda pin (``numpy=1.26``) as PyPI's ``numpy==1.26.*``; others as they are."""
    entry = entry.split("::")[-1].strip()
    pin = _CONDA_PIN.match(entry)
    return f"{pin.group(1)}=={pin.group(2).rstrip('*').rstrip('.')}.*" if pin else entry


def satisfied_here(packages: Iterable[str]) -> bool:
    """True when every requirement is installed in this Python at a version it allows (an
    option line, a path, a URL or anything unreadable: False)."""
    from packaging.requirements import InvalidRequirement, Requirement

    for entry in packages:
        try:
            req = Requirement(_requirement(entry))
        except InvalidRequirement:
            return False
        if req.url:
            return False
        if req.marker is not None and not req.marker.evaluate():
            continue  # not for this Python
        version = installed_version(req.name)
        if version is None or not req.specifier.contains(version, prereleases=True):
            return False
    return True
