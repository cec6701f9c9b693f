"""The ``local`` target: a detached supervisor process on this machine runs the script.

What a local submit does differently from the others (the sequence is
:mod:`aml_jupyter.compute.submission`): it checks the environment can be built here and
starts the supervisor, which gets its run id once the run is recorded. Its liveness checks
and cancel are in :mod:`.owner`.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import AmlError

if TYPE_CHECKING:
    from ...tracking.workspace import Workspace


def check_local(ws: Workspace, definition: dict[str, Any]) -> None:
    """Refuse a run this machine cannot start: a wrong Python or interpreter, no run at all."""
    from ...environments import build as envbuild

    if definition["environment"] is not None:
        envbuild.check(ws.folder, definition["environment"])


def hand_off(owner: subprocess.Popen[bytes], run_id: str | None) -> None:
    """Give a waiting supervisor (or mirror) its run id; ``None`` tells it to exit quietly."""
    handoff = owner.stdin
    assert handoff is not None
    try:
        if run_id is not None:
            handoff.write(f"{run_id}\n".encode())
    finally:
        handoff.close()


def start_supervisor(
    ws_folder: Path,
    module: str = "aml_jupyter.compute.local.supervisor",
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a supervisor (or ``module``: a remote run's mirror) in its own session, so a
    kernel restart or Ctrl-C leaves it alone; ``env``: its environment, if not ours (the
    agent's supervisors get a run's secrets key so, see :mod:`.sealed_secrets`).

    It waits for a run id on its stdin; closing stdin without one makes it exit.
    """
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, str(ws_folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
            env=env,
        )
    except OSError as exc:
        raise AmlError(f"Could not start the run's supervisor: {exc}") from exc
    # Reap it when it ends so a long-lived kernel collects no zombies.
    threading.Thread(target=proc.wait, name="aml-reap-supervisor", daemon=True).start()
    return proc
