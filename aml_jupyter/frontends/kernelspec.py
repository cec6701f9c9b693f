"""Install the "Python 3 (aml)" kernelspec: an ipykernel that loads the magics at start.

``python -m aml_jupyter.frontends.kernelspec [--user | --sys-prefix | --prefix P]``. Installing
the wheel or the sdist already puts the spec (``kernels/aml/kernel.json``) into the environment's
``share/jupyter/kernels/aml/``, where Jupyter runs its ``python`` as the server's interpreter.
This command installs it elsewhere (for the user, another prefix) with this interpreter's path
in argv; the wheel carries the spec for it as ``aml_jupyter/kernel.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from importlib import resources
from pathlib import Path

from ..paths import PACKAGE_DIR

KERNEL_NAME = "aml"


def kernel_spec() -> dict:
    """The kernelspec dict, pointing at this Python."""
    packaged = resources.files("aml_jupyter").joinpath("kernel.json")
    if packaged.is_file():  # a wheel carries kernels/aml/kernel.json here
        text = packaged.read_text()
    else:  # a source checkout (editable install)
        text = (PACKAGE_DIR.parent / "kernels" / "aml" / "kernel.json").read_text()
    spec = json.loads(text)
    spec["argv"][0] = sys.executable
    return spec


def install(user: bool = False, prefix: str | None = None) -> str:
    """Install the kernelspec; returns the folder it went to.

    Default is this Python's prefix (``--sys-prefix``), so a venv's Jupyter finds it.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / KERNEL_NAME
        folder.mkdir()
        (folder / "kernel.json").write_text(json.dumps(kernel_spec(), indent=2))
        return KernelSpecManager().install_kernel_spec(
            str(folder),
            KERNEL_NAME,
            user=user,
            prefix=None if user else (prefix or sys.prefix),
        )


def main(argv: list[str] | None = None) -> int:
    """Command line: install the kernelspec and print where."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="install for the current user")
    where.add_argument(
        "--sys-prefix", action="store_true", help="install into this Python's prefix (default)"
    )
    where.add_argument("--prefix", help="install under this prefix")
    args = parser.parse_args(argv)
    path = install(user=args.user, prefix=args.prefix)
    print(f"Installed kernelspec {KERNEL_NAME!r} (Python 3 (aml)) in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
