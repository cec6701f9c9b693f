"""``run.get_secret`` on a compute instance or a Ray cluster: the key vault sealed for the run.

A remote run's script runs against a workspace of the node's own, which has no key vault. So at
submit the submitter seals the workspace's secrets for that run (:func:`seal_for_run`: one
token under a fresh key, :mod:`aml_jupyter.store.sealed_secrets`) and the two travel apart:

* **compute instance**: both in the submit request (HTTPS where the agent has ``--certfile``,
  behind its bearer token). The agent writes the token to the run's folder (``secrets.sealed``,
  0600; encrypted, never mirrored back) and gives the key to the run's supervisor in its
  environment (:data:`KEY_ENV`), never to a file.
* **Ray cluster**: the token in a small package of its own in the job's ``py_modules`` (named
  by its hash; Ray keeps packages in its GCS, not in what its dashboard shows); the key in the
  job's ``runtime_env`` env_vars. Ray's dashboard and job API show runtime_env in plain text, so
  the key is readable there by whoever reaches the dashboard; that is where we draw the line:
  the key alone opens nothing, and whoever reaches Ray's job API can submit a job that runs
  any code on the cluster, so hiding the key from them would hide nothing. What never appears
  there (nor in Ray's logs, which may echo the runtime_env) is a secret's value, or the token.
  The driver takes the token from where Ray unpacked the package and deletes it there; a
  distributed run's rank actors get the key and the token from the driver as arguments of
  their start call (Ray's task arguments, which the dashboard does not show), and each deletes
  the copy Ray unpacked on its node.

On the node (:class:`NodeSecrets`), the run's owner (the supervisor; the Ray driver) takes the
key out of its own environment before anything else runs, and hands it to each script process
through a pipe: the fd's number and the pipe's inode are in ``AML_RUN_SECRETS_FD``, the key in
the pipe only. The script's first ``run.get_secret`` reads it once and closes the pipe
(:mod:`aml_jupyter.tracking.run_secrets`). A pipe rather than a variable: an environment is
copied into every process the script starts, printed by debug code, kept in
``/proc/<pid>/environ`` even after ``del os.environ[...]``; a pipe is read once and then holds
nothing. The token file is deleted when the run ends. A script in a docker container gets no
pipe (none reaches through ``docker run``): it is told so.

Here, in ``compute/local/``, because the supervisor that hands the key on lives here and the
instance and cluster folders build on it (the layers allow no import from ``local/`` upward).

Secrets set after submit are not seen by a run already submitted (it has its copy as it was);
a workspace with no secrets ships nothing (the script is told so, for a clear error). Only the
user's secrets travel: datastore credentials and scoring services' keys stay home.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ...errors import AmlError
from ...store.sealed_secrets import seal
from ...tracking.run_secrets import FD_ENV, SECRETS_ENV

if TYPE_CHECKING:
    from ...store.run_folder import RunFolder
    from ...tracking.workspace import Workspace
    from ..cluster.jobs_api import RayJobs

#: The run owner's variable holding the run's key ("": the workspace had no secrets to send).
KEY_ENV = "AML_SEALED_SECRETS_KEY"
#: The sealed token in the node's run folder (not among what is mirrored or streamed back).
SEALED_FILE = "secrets.sealed"
#: The folder of the Ray package holding a run's token (``<folder>/<run id>.sealed``).
RAY_FOLDER = "aml_sealed_secrets"
#: A Fernet key: 32 bytes, urlsafe base64.
_KEY = re.compile(r"[A-Za-z0-9_-]{43}=")
#: Most bytes of a token a submit request may carry (base64 text).
MAX_TOKEN_CHARS = 48 << 20
#: Secrets of aml_jupyter's own that a run does not get (a scoring service's keys).
_SERVICE_KEYS = re.compile(r"aml-service-.+-keys")


class Sealed(NamedTuple):
    """What a submit sends: the key one way, the token another."""

    key: str
    token: bytes


def user_secrets(ws: Workspace) -> dict[str, str]:
    """The workspace's secrets a run may read: all of ``list_secrets()`` but datastores'
    credentials and scoring services' keys (the run reaches those through their objects)."""
    store = ws.store
    internal = {d.credentials_secret for d in store.list_datastores() if d.credentials_secret}
    out = {}
    for name in store.secret_names():
        if name in internal or _SERVICE_KEYS.fullmatch(name):
            continue
        value = store.get_secret(name)
        if value is not None:
            out[name] = value
    return out


def seal_for_run(ws: Workspace, run_id: str) -> Sealed | None:
    """The workspace's secrets sealed for run ``run_id``; None when it has none."""
    values = user_secrets(ws)
    if not values:
        return None
    key, token = seal(values, run_id)
    return Sealed(key, token)


# -- a compute instance: the submit request's ``secrets`` --------------------------------


def request_field(sealed: Sealed | None) -> dict[str, str] | None:
    """What a submit request to an agent carries (None: the workspace had no secrets)."""
    if sealed is None:
        return None
    return {"key": sealed.key, "token": base64.b64encode(sealed.token).decode()}


def agent_supervisor_env(folder: RunFolder, field: object) -> dict[str, str]:
    """On the agent, from a submit request's ``secrets`` (outside input: checked first): the
    token written to the run's folder, and the supervisor's environment holding the key
    (``""`` when none were sent). An :class:`AmlError` for a malformed field."""
    env = dict(os.environ)
    if field is None:
        env[KEY_ENV] = ""
        return env
    if not isinstance(field, dict) or set(field) != {"key", "token"}:
        raise AmlError("secrets must be null or an object with a key and a token.")
    key, text = field["key"], field["token"]
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise AmlError("secrets.key must be a Fernet key (44 characters of urlsafe base64).")
    if not isinstance(text, str) or not 0 < len(text) <= MAX_TOKEN_CHARS:
        raise AmlError(f"secrets.token must be base64 text of at most {MAX_TOKEN_CHARS} chars.")
    try:
        token = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise AmlError("secrets.token is not base64.") from None
    keep_token(folder, token)
    env[KEY_ENV] = key
    return env


# -- the submitter's side, Ray ------------------------------------------------------------


def ray_package(jobs: RayJobs, token: bytes, run_id: str) -> str:
    """Upload the token as a package of its own (``<RAY_FOLDER>/<run id>.sealed``); its URI.
    The zip is written to a 0600 temp file outside the workspace and deleted once sent."""
    digest = hashlib.sha256(b"aml-sealed-secrets\0" + run_id.encode() + b"\0" + token)
    uri = f"gcs://_ray_pkg_{digest.hexdigest()[:40]}.zip"
    fd, name = tempfile.mkstemp(prefix="aml-sealed-", suffix=".zip")
    try:
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w") as zf:
            info = zipfile.ZipInfo(f"{RAY_FOLDER}/{run_id}.sealed", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o100600 << 16
            zf.writestr(info, token)
        jobs.upload_package(uri, Path(name))
    finally:
        os.unlink(name)
    return uri


def seal_for_ray(jobs: RayJobs, ws: Workspace, run_id: str, runtime_env: dict[str, Any]) -> None:
    """Add run ``run_id``'s sealed secrets to its job's ``runtime_env``: the token as a
    package of its own in ``py_modules``, the key in ``env_vars`` (``""``: none to send)."""
    sealed = seal_for_run(ws, run_id)
    runtime_env["env_vars"][KEY_ENV] = sealed.key if sealed else ""
    if sealed is not None:
        runtime_env["py_modules"].append(ray_package(jobs, sealed.token, run_id))


def take_ray_token(run_id: str, search: list[str]) -> bytes | None:
    """On a Ray node: the run's token from its unpacked package (a ``py_modules`` folder on
    ``search``, i.e. ``sys.path``), deleted there once read; None when the job has none here."""
    cwd = Path.cwd().resolve()
    for entry in search:
        if not entry or Path(entry).resolve() == cwd:
            continue  # the job's working_dir is the user's snapshot, never our package
        path = Path(entry) / RAY_FOLDER / f"{run_id}.sealed"
        try:
            token = path.read_bytes()
        except OSError:
            continue
        path.unlink(missing_ok=True)
        return token
    return None


def ray_node_secrets(folder: RunFolder, run_id: str) -> NodeSecrets | None:
    """In a Ray job's driver: the key out of this process's environment, the token from the
    job's package (deleted there) into the run folder; None for a job that sent neither."""
    key = os.environ.pop(KEY_ENV, None)
    token = take_ray_token(run_id, sys.path)
    if token is not None and key:
        keep_token(folder, token)
    return None if key is None else NodeSecrets(folder, key)


def rank_secrets(
    folder: RunFolder, sent: tuple[str, bytes | None] | None
) -> tuple[dict[str, str], int | None]:
    """In a rank's actor (another node, maybe): ``sent`` (the key, the token) from the driver
    kept in the rank's own run folder; the variables and key pipe for its process."""
    if sent is None:
        return {}, None
    key, token = sent
    if token is not None and key:
        keep_token(folder, token)
    return NodeSecrets(folder, key).for_process()


def forget_ray_key(run_id: str) -> None:
    """In a rank's actor: the key Ray put in every process of the job out of our environment,
    and the token Ray unpacked on this node deleted (the driver sends the rank its own)."""
    os.environ.pop(KEY_ENV, None)
    take_ray_token(run_id, sys.path)


# -- the node's side ------------------------------------------------------------------------


def keep_token(folder: RunFolder, token: bytes) -> Path:
    """Write the run's token into its run folder (0600, whole or not at all); never over
    another's (an :class:`AmlError`: that run exists already)."""
    folder.root.mkdir(parents=True, exist_ok=True)
    path = folder.root / SEALED_FILE
    partial = folder.root / f".{SEALED_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(token)
        os.link(partial, path)
    except FileExistsError:
        raise AmlError(f"Run {folder.root.name!r} has sealed secrets already.") from None
    finally:
        partial.unlink(missing_ok=True)
    return path


def drop_token(folder: RunFolder) -> None:
    """Delete the run's token (its run ended, or it never started)."""
    (folder.root / SEALED_FILE).unlink(missing_ok=True)


class NodeSecrets:
    """The run owner's hold on a remote run's secrets: the key (taken from ``KEY_ENV``) and
    the token file in the run folder; :meth:`for_process` hands the key to one process."""

    def __init__(self, folder: RunFolder, key: str) -> None:
        self.folder = folder
        self.key = key

    @classmethod
    def from_environ(cls, folder: RunFolder) -> NodeSecrets | None:
        """Take the key out of this process's environment (a remote run's owner); None for a
        run submitted here (its script reads the workspace's key vault itself)."""
        key = os.environ.pop(KEY_ENV, None)
        return None if key is None else cls(folder, key)

    @property
    def path(self) -> Path:
        return self.folder.root / SEALED_FILE

    def for_process(self, in_container: bool = False) -> tuple[dict[str, str], int | None]:
        """``(variables, fd)`` for one script process: the token's path and, when there is a
        token, a pipe holding the key (pass ``fd`` to the process; close it here after). A
        process in a container gets no pipe (none reaches it): its script is told so."""
        if not self.key:
            return {SECRETS_ENV: ""}, None  # nothing was sent: the script says so
        if in_container:
            return {SECRETS_ENV: str(self.path), FD_ENV: ""}, None
        read, write = os.pipe()
        try:
            os.write(write, self.key.encode())  # 44 bytes: far below a pipe's buffer
        finally:
            os.close(write)
        inode = os.fstat(read).st_ino
        return {SECRETS_ENV: str(self.path), FD_ENV: f"{read}:{inode}"}, read

    def sent(self) -> tuple[str, bytes | None]:
        """The key and the token (None: none arrived), for a rank's actor (:func:`rank_secrets`)."""
        try:
            token: bytes | None = self.path.read_bytes()
        except OSError:
            token = None
        return self.key, token

    def discard(self) -> None:
        """The run ended: its token goes, and the key is forgotten."""
        self.key = ""
        drop_token(self.folder)


def close_fd(fd: int | None) -> None:
    """Close our end of a process's key pipe once the process has its own."""
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass
