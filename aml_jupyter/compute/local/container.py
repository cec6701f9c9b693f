"""One process of a run, in a container: ``python -m aml_jupyter.compute.local.container``.

The supervisor starts this module instead of the script when the environment has
``docker.enabled``, so its process handling (logs, cancel, max duration, one failing rank stops
all) is the same as for a local process: this module creates and starts the container, streams
its output to stdout (the rank's log), stops it on SIGTERM (SIGTERM, then SIGKILL within the
supervisor's grace period), removes it, and exits as the container's process did (a script
killed by a signal is reported as killed by that signal, as for a local run).

The container sees the run's working folder, the workspace and aml_jupyter at the same paths as
the host (bind mounts) and runs as the host's uid:gid, with the host's network
(``MASTER_ADDR=127.0.0.1`` works for distributed ranks) and process ids, so
``Run.get_context()``, metrics, ``./outputs`` and ``./logs`` land exactly where a local run's do.

    python -m aml_jupyter.compute.local.container IMAGE --workdir DIR [-v PATH[:ro]]... [-e KEY]...
        [--name NAME] [--label KEY=VALUE]... -- COMMAND...

``-e KEY`` passes this process's value of KEY (values stay out of ``ps``), ``-e KEY=VALUE`` a
value given here.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ...paths import PACKAGE_DIR

#: Seconds between SIGTERM and SIGKILL: the supervisor's (it SIGKILLs us after that long).
GRACE_S = float(os.environ.get("AML_CANCEL_GRACE_SECONDS", "5"))
#: Labels on every run container, to find them (tests, cleanup).
RUN_LABEL = "aml.run_id"
#: Variables of the supervisor's environment that describe the host, not the run.
_HOST_ONLY = ("PATH", "VIRTUAL_ENV")


def command(
    ws_folder: Path,
    work: Path,
    run_id: str,
    rank: int,
    environment: dict[str, Any],
    run_env: dict[str, str],
    argv: list[str],
) -> list[str]:
    """The argv that runs ``argv`` for one rank in a container of the environment's image.

    ``run_env`` is what the process would get locally; the container gets the variables that
    differ from the supervisor's own (ids, PYTHONPATH, the distributed ones, ...) and the
    environment's variables, but not the host's PATH or the rest of its environment.
    """
    from ...environments import build as envbuild
    from ...environments import docker_image as dockerenv

    user_vars = environment["environment_variables"]
    keys = [
        k
        for k, v in run_env.items()
        if k in user_vars
        or k.startswith(("AML_", "AZUREML_"))  # the run's ids, even when the host has some
        or (os.environ.get(k) != v and k not in _HOST_ONLY)
    ]
    mounts = [str(ws_folder), f"{PACKAGE_DIR}:ro"]
    if not work.resolve().is_relative_to(ws_folder.resolve()):
        mounts.append(str(work))
    envbuild.package_link(ws_folder)  # the PYTHONPATH entry the container imports us from
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", f"aml-{run_id}-{rank}")
    return [
        sys.executable,
        "-m",
        "aml_jupyter.compute.local.container",
        dockerenv.image_name(environment),
        "--workdir",
        str(work),
        "--name",
        name,
        "--label",
        f"{RUN_LABEL}={run_id}",
        "--label",
        f"aml.rank={rank}",
        *(a for m in mounts for a in ("-v", m)),
        *(a for k in sorted(keys) for a in ("-e", k)),
        "--shm-size",
        str((environment["docker"].get("kept") or {}).get("shmSize") or "2g"),
        "--",
        *argv,
    ]


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m aml_jupyter.compute.local.container")
    parser.add_argument("image")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--name")
    parser.add_argument("--label", action="append", default=[])
    parser.add_argument("-v", "--volume", action="append", default=[], help="PATH[:ro]")
    parser.add_argument("-e", "--env", action="append", default=[], help="KEY or KEY=VALUE")
    # v1's default (docker's 64 MB is too small for torch's DataLoader); DockerConfiguration's.
    parser.add_argument("--shm-size", default="2g")
    parser.add_argument("command", nargs="+")
    return parser.parse_args(argv)


def _environment(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if eq:
            env[key] = value
        elif key in os.environ:
            env[key] = os.environ[key]
    return env


def _mounts(specs: list[str]) -> list[Any]:
    """Bind mounts at the same path inside as outside (``PATH:ro``: read-only)."""
    from docker.types import Mount

    mounts = []
    for spec in specs:
        path, read_only = (spec[:-3], True) if spec.endswith(":ro") else (spec, False)
        mounts.append(Mount(target=path, source=path, type="bind", read_only=read_only))
    return mounts


def run(args: argparse.Namespace) -> int:
    """Create, start, stream, stop on request, remove; the container's exit status."""
    import docker

    from ...environments.docker_image import client
    from ...errors import AmlError

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    engine = client()
    container = engine.containers.create(
        args.image,
        args.command,
        working_dir=args.workdir,
        environment=_environment(args.env),
        mounts=_mounts(args.volume),
        user=f"{os.getuid()}:{os.getgid()}",
        network_mode="host",
        # The host's process ids: the script checks its supervisor is alive by pid (a private
        # namespace would make it look dead), and is not PID 1 (which ignores SIGTERM).
        pid_mode="host",
        shm_size=args.shm_size,
        name=args.name,
        labels=dict(label.partition("=")[::2] for label in args.label),
    )
    try:
        if stop.is_set():
            return 128 + signal.SIGTERM
        container.start()
        streamer = threading.Thread(target=_stream, args=(container,), daemon=True)
        streamer.start()
        codes: list[int] = []
        waiter = threading.Thread(
            target=lambda: codes.append(int(container.wait()["StatusCode"])), daemon=True
        )
        waiter.start()
        kill_at = None
        while waiter.is_alive():
            waiter.join(0.1)
            if stop.is_set() and kill_at is None:
                _kill(container, "SIGTERM")
                # Leave time to kill and remove it before the supervisor's SIGKILL reaches us.
                kill_at = time.monotonic() + max(GRACE_S - 1.5, GRACE_S / 2)
            elif kill_at is not None and time.monotonic() > kill_at:
                _kill(container, "SIGKILL")
                kill_at = float("inf")
        if stop.is_set():  # removed first: the supervisor's SIGKILL may follow at once
            with contextlib.suppress(docker.errors.DockerException):
                container.remove(force=True)
        streamer.join(0.5 if stop.is_set() else 5)  # the last lines
        if not codes:
            raise AmlError("the engine did not say how the container ended")
        return codes[0]
    finally:
        with contextlib.suppress(docker.errors.DockerException):
            container.remove(force=True)


def _kill(container: Any, sig: str) -> None:
    import docker

    with contextlib.suppress(docker.errors.APIError):  # it may have just ended
        container.kill(signal=sig)


def _stream(container: Any) -> None:
    """The container's stdout and stderr, as it writes them, to ours (the rank's log)."""
    out = sys.stdout.buffer
    for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=True):
        out.write(chunk)
        out.flush()


def main(argv: list[str] | None = None) -> int:
    import docker

    from ...errors import AmlError

    args = _parse(sys.argv[1:] if argv is None else argv)
    try:
        code = run(args)
    except (AmlError, docker.errors.DockerException) as exc:
        print(f"[aml] The run's container failed: {exc}", flush=True)
        return 125  # docker run's "the engine failed" status
    sig = code - 128
    if sig in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL):
        # The script died of a signal: die of the same one, as a local process would.
        if sig != signal.SIGKILL:
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    return code


if __name__ == "__main__":
    sys.exit(main())
