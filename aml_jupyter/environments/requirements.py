"""A ``requirements.txt`` kept as it is, for uv to read: its text and the files it includes.

``Environment.from_pip_requirements`` keeps the file and every file it names with ``-r`` or
``-c`` (relative to the file that names it, as pip and uv read them) in the environment's spec,
so the spec's hash changes when any of them does, and a build on another machine has them.
Only those include lines are read here; what every other line means (options, markers,
continuations, hashes, editables) is uv's to say: the build hands it the file with
``uv pip install -r``.
"""

from __future__ import annotations

import os
import posixpath
import re
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import AmlError

#: A requirements file and what it includes; more is not a requirements file.
MAX_BYTES = 1 << 20
_COMMENT = re.compile(r"(^|\s)#.*$")
_SHORT = ("-r", "-c")
_LONG = ("--requirement", "--constraint")


def read(file_path: str | os.PathLike[str]) -> dict[str, Any]:
    """The requirements file and the files it includes, as the spec keeps them.

    ``{"folder": common folder, "main": the file, "files": {name: text}}``, names relative to
    ``folder`` (posix). A missing file, or a missing included one, is an ``AmlError``.
    """
    main = Path(file_path).expanduser()
    if not main.is_file():
        raise AmlError(
            f"{os.fspath(file_path)!r} is not a file: give the path of a requirements.txt."
        )
    found: dict[Path, str] = {}
    _collect(main.resolve(), found)
    root = Path(os.path.commonpath([str(p.parent) for p in found]))
    return {
        "folder": str(root),
        "main": main.resolve().relative_to(root).as_posix(),
        "files": {p.relative_to(root).as_posix(): found[p] for p in sorted(found)},
    }


def _collect(path: Path, found: dict[Path, str]) -> None:
    if path in found:  # a file included twice, or a cycle: read once
        return
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise AmlError(f"Cannot read the requirements file {str(path)!r}: {e}") from None
    found[path] = text
    if sum(len(t) for t in found.values()) > MAX_BYTES:
        raise AmlError(
            f"The requirements file {str(path)!r} and what it includes are over "
            f"{MAX_BYTES >> 20} MiB: is it a requirements file?"
        )
    for number, target in includes(text):
        included = (path.parent / os.path.expanduser(target)).resolve()
        if not included.is_file():
            raise AmlError(
                f"{str(path)!r} line {number} includes {target!r}, which is not a file "
                f"({included}). Create it, or fix that line (-r/-c paths are relative to the "
                "file that names them)."
            )
        _collect(included, found)


def includes(text: str) -> list[tuple[int, str]]:
    """The ``-r``/``-c`` targets of a requirements file's text, with their line numbers;
    URLs are left to uv (it fetches them; they are not kept)."""
    out: list[tuple[int, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        number, line = i + 1, lines[i]
        while line.endswith("\\") and i + 1 < len(lines):  # a continued line is one line
            i += 1
            line = line[:-1] + lines[i]
        i += 1
        words = _COMMENT.sub("", line).split()
        if not words:
            continue
        first, target = words[0], None
        if first in _SHORT + _LONG and len(words) > 1:
            target = words[1]
        elif first.startswith(tuple(f"{o}=" for o in _LONG)):
            target = first.partition("=")[2]
        elif first.startswith(_SHORT) and len(first) > 2:
            target = first[2:]
        if target and "://" not in target:
            out.append((number, target))
    return out


def main_file(kept: dict[str, Any], folder: Path | None = None) -> Path:
    """The requirements file to hand uv: the original, when every kept file is still there
    unchanged (so relative paths in it, such as ``-e .``, mean what they meant); else the
    kept copies, written under ``folder`` (a new temporary folder when None)."""
    root = Path(kept["folder"])
    names = [_checked(name) for name in kept["files"]]
    if all(_unchanged(root / name, kept["files"][name]) for name in names):
        return root / kept["main"]
    folder = Path(tempfile.mkdtemp(prefix="aml-requirements-")) if folder is None else folder
    for name in names:
        copy = folder / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(kept["files"][name], encoding="utf-8")
    return folder / _checked(kept["main"])


def _checked(name: str) -> str:
    # Names come from a stored spec: never let one write outside the folder of the copies.
    parts = PurePosixPath(name).parts
    if not parts or PurePosixPath(name).is_absolute() or ".." in parts:
        raise AmlError(f"The environment's spec names the requirements file {name!r}: not valid.")
    return name


def _unchanged(path: Path, text: str) -> bool:
    try:
        return path.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        return False


def flat_lines(kept: dict[str, Any]) -> list[str]:
    """The kept requirements as one list of lines, ``-r`` files inlined where they are named:
    for a Ray ``runtime_env`` (its nodes have none of this machine's files). Constraint files
    (``-c``) cannot be inlined as requirements and are left out there."""
    files: dict[str, str] = kept["files"]
    out: list[str] = []

    def inline(name: str, seen: tuple[str, ...]) -> None:
        targets = dict(includes(files[name]))
        for number, line in enumerate(files[name].splitlines(), start=1):
            if number not in targets:
                out.append(line)
                continue
            if _COMMENT.sub("", line).split()[0].startswith(("-c", "--constraint")):
                continue
            target = posixpath.normpath(posixpath.join(posixpath.dirname(name), targets[number]))
            if target in files and target not in seen:
                inline(target, (*seen, target))

    inline(kept["main"], (kept["main"],))
    return [line for line in out if line.strip() and not line.lstrip().startswith("#")]


#: A conda pin (``numpy=1.26``) becomes a PyPI range.
_CONDA_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)\s*=\s*([^=<>!~\s]+)$")


#: Azure ML v1 SDK packages: inside a run aml_jupyter serves ``azureml.core`` (and train,
#: widgets, telemetry), so a v1 environment's ``azureml-defaults`` is not installed (it would
#: pull the whole cloud SDK, and fails to build on today's Pythons).
SDK_PACKAGES = frozenset(
    {
        "azureml-defaults",
        "azureml-core",
        "azureml-sdk",
        "azureml-train",
        "azureml-train-core",
        "azureml-widgets",
        "azureml-telemetry",
        "azureml-mlflow",
    }
)


def is_sdk_package(requirement: str) -> bool:
    """Whether a pip line asks for one of :data:`SDK_PACKAGES` (any version or extras)."""
    name = re.split(r"[=<>!~\[\s;@]", requirement.strip(), maxsplit=1)[0]
    return name.lower().replace("_", "-") in SDK_PACKAGES


def pip_requirements(spec: dict[str, Any], folder: Path | None = None) -> list[str]:
    """The lines of a requirements file that installs an environment: its pip packages, its
    conda packages tried from PyPI (``numpy=1.26`` becomes ``numpy==1.26.*``), Azure ML SDK
    packages left out (:func:`is_sdk_package`), then ``-r`` its
    kept requirements file: the original when unchanged, else its copies written under
    ``folder`` (a new temporary folder when None)."""
    deps = spec["python"]["conda_dependencies"]
    out = [p for p in deps.get("pip", []) if not is_sdk_package(p)]
    for entry in deps.get("conda", []):
        entry = entry.split("::")[-1].strip()
        pin = _CONDA_PIN.match(entry)
        out.append(f"{pin.group(1)}=={pin.group(2).rstrip('*').rstrip('.')}.*" if pin else entry)
    if deps.get("requirements"):
        out.append(f"-r {main_file(deps['requirements'], folder)}")
    return out
