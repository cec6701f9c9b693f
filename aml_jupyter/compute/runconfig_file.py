"""A ``RunConfiguration`` as v1's ``.runconfig`` YAML (camelCase keys), saved and loaded.

Where v1 trips, this does not: ``save`` makes ``.azureml/`` (v1 raised FileNotFoundError),
writes each file whole (a temp file renamed over it) and names the conda file after the run
config (v1's one ``conda_dependencies.yml`` was shared by every config of the folder). ``load``
finds a file the four ways v1 does, plus ``aml_config/``, and a field of the wrong kind is an
``AmlError`` naming the file and the field. Sections this version does not use are kept as
read, so a v1 file saves back with them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..environments import environment_file
from ..environments.environment_file import Fields, write_whole
from ..errors import AmlError
from .distributed import MpiConfiguration, PyTorchConfiguration, TensorflowConfiguration

if TYPE_CHECKING:
    from .runconfig import RunConfiguration

EXTENSION = ".runconfig"
FOLDERS = (".azureml", "aml_config")
#: Top-level sections kept as read, with what v1 writes when there is none.
KEPT: dict[str, Any] = {
    "spark": {"configuration": {}},
    "hdi": {"yarnDeployMode": "cluster"},
    "paralleltask": {
        "maxRetriesPerWorker": 0,
        "workerCountPerNode": 1,
        "terminalExitCodes": None,
        "configuration": {},
    },
    "dataReferences": {},
    "data": {},
    "datacaches": [],
    "outputData": {},
    "sourceDirectoryDataStore": None,
    "amlcompute": {
        "vmSize": None,
        "vmPriority": None,
        "retainCluster": False,
        "name": None,
        "clusterMaxNodeCount": None,
    },
    "kubernetescompute": {"instanceType": None},
    "credentialPassthrough": False,
    "applicationEndpoints": {},
}


# writing --------------------------------------------------------------------------------------
def to_document(
    config: RunConfiguration, conda_file: str | None = None, environment: Any = None
) -> dict[str, Any]:
    """The YAML document of ``config`` (``environment``: a path to use instead of the
    environment's section, as ``separate_environment_yaml`` writes)."""
    target = config.target
    docker = config.docker
    doc: dict[str, Any] = {
        "script": config.script,
        "command": config.command if config.command is not None else "",
        "arguments": [str(a) for a in config.arguments],
        "target": target if isinstance(target, str) else getattr(target, "name", str(target)),
        "framework": config.framework,
        "communicator": config.communicator,
        "maxRunDurationSeconds": config.max_run_duration_seconds,
        "nodeCount": config.node_count,
        "priority": config.priority,
        "environment": environment
        if environment is not None
        else _environment_section(config.environment, conda_file),
        "history": {
            "outputCollection": config.history.output_collection,
            "snapshotProject": config.history.snapshot_project,
            "directoriesToWatch": list(config.history.directories_to_watch),
        },
        "docker": {
            "useDocker": docker.use_docker,
            "sharedVolumes": docker.shared_volumes,
            "arguments": list(docker.arguments),
            "shmSize": docker.shm_size,
        },
        "tensorflow": {
            "workerCount": config.tensorflow.worker_count,
            "parameterServerCount": config.tensorflow.parameter_server_count,
        },
        "mpi": {
            "processCountPerNode": config.mpi.process_count_per_node,
            "nodeCount": config.mpi.node_count,
        },
        "pytorch": {
            "communicationBackend": config.pytorch.communication_backend,
            "processCount": config.pytorch._process_count,
            "nodeCount": config.pytorch.node_count,
        },
        "environmentVariables": dict(config.environment_variables),
    }
    for key, default in KEPT.items():
        doc[key] = config._kept.get(key, default)
    return doc


def _environment_section(environment: Any, conda_file: str | None) -> Any:
    """A registered environment named by ``"name[:version]"`` is written as just its name and
    version (read back as that name); an Environment as its whole section."""
    if isinstance(environment, str):
        name, _, version = environment.partition(":")
        return {"name": name, "version": version or None}
    return environment_file.to_section(environment, conda_file)


def save(
    config: RunConfiguration,
    path: str | os.PathLike[str] | None,
    name: str | None,
    separate_environment_yaml: bool,
) -> Path:
    """See :meth:`RunConfiguration.save`."""

    from ..environments import fast_yaml

    base = Path(path if path is not None else ".").expanduser()
    if base.is_dir() or path is None:
        name = name or config._name
        if not name:
            raise AmlError("RunConfiguration.save(path, name=...) needs a name for the file.")
        if "/" in name or "\\" in name or name in (".", ".."):
            raise AmlError(f"name={name!r} must be a file name, not a path.")
        legacy = base / "aml_config"
        folder = (
            legacy if legacy.is_dir() and not (base / ".azureml").is_dir() else base / ".azureml"
        )
        folder.mkdir(parents=True, exist_ok=True)
        file = folder / (name if name.endswith(EXTENSION) else name + EXTENSION)
        project = base
    else:
        file = base
        if not file.parent.is_dir():
            raise AmlError(f"Cannot save the run configuration: {str(file.parent)!r} is no folder.")
        folder = project = file.parent
    stem = file.name[: -len(EXTENSION)] if file.name.endswith(EXTENSION) else file.name
    conda = folder / f"{stem}_conda_dependencies.yml"
    env_section = None
    named = isinstance(config.environment, str)  # a registered one: no files of its own
    if separate_environment_yaml and not named:
        env_file = folder / f"{stem}_environment.yml"
        section = environment_file.to_section(config.environment, _relative(conda, project))
        write_whole(env_file, fast_yaml.dump(section, sort_keys=False))
        env_section = _relative(env_file, project)
    if not named:
        write_whole(conda, environment_file.conda_text(config.environment))
    doc = to_document(config, _relative(conda, project), env_section)
    write_whole(file, fast_yaml.dump(doc, sort_keys=False, default_flow_style=False))
    config._name, config._path = stem, str(project)
    return file


def _relative(file: Path, project: Path) -> str:
    try:
        return file.resolve().relative_to(project.resolve()).as_posix()
    except ValueError:
        return str(file.resolve())


# reading --------------------------------------------------------------------------------------
def find(path: str | os.PathLike[str], name: str | None) -> Path:
    """The file ``load(path, name)`` reads, in v1's order (plus ``aml_config/``)."""
    base = Path(path).expanduser()
    if base.is_file():
        return base
    tried = []
    if name:
        for candidate in (
            *(base / f / name for f in FOLDERS),
            *(base / f / (name + EXTENSION) for f in FOLDERS),
            base / (name + EXTENSION),
        ):
            tried.append(str(candidate))
            if candidate.is_file():
                return candidate
    elif not base.exists():
        raise AmlError(f"No run configuration at {str(base)!r}: no such file or folder.")
    raise AmlError(
        f"No run configuration {name!r} under {str(base)!r}"
        + (f" (looked for {', '.join(tried)})" if tried else " (give name=...)")
        + ". Save one with RunConfiguration.save(path, name)."
    )


def load(path: str | os.PathLike[str], name: str | None) -> RunConfiguration:
    """See :meth:`RunConfiguration.load`."""
    import yaml

    from ..environments import fast_yaml

    file = find(path, name)
    source = str(file)
    try:
        doc = fast_yaml.load(file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise AmlError(f"{source} is not valid YAML: {exc}") from None
    except OSError as exc:
        raise AmlError(f"Cannot read {source}: {exc.strerror}.") from None
    project = file.parent.parent if file.parent.name in FOLDERS else file.parent
    stem = file.name[: -len(EXTENSION)] if file.name.endswith(EXTENSION) else file.name
    return from_document(doc, source, project, file.parent, name=stem)


def from_document(
    doc: Any, source: str, project: Path, folder: Path, name: str | None = None
) -> RunConfiguration:
    """A ``RunConfiguration`` from a parsed ``.runconfig`` (paths in it relative to
    ``project``, else to ``folder``)."""
    from .runconfig import DockerConfiguration, HistoryConfiguration, RunConfiguration

    f = Fields(doc, source)
    config = RunConfiguration(_name=name, _path=str(project))
    config.script = f.text("script")
    config.arguments = f.strings("arguments")
    command = f.get("command", (str, list), "text or a list", None)
    config.command = command if command not in ("", []) else None
    config.target = f.text("target", "local") or "local"
    config.framework = f.text("framework", "Python") or "Python"
    config.communicator = f.text("communicator", "None") or "None"
    duration = f.get("maxRunDurationSeconds", (int, float), "a number of seconds > 0")
    if duration is not None and duration <= 0:
        raise f.bad("maxRunDurationSeconds", "a number of seconds > 0")
    config.max_run_duration_seconds = duration
    config.priority = f.get("priority", (int,), "a whole number")
    nodes = f.count("nodeCount", 1)

    mpi = f.section("mpi")
    config.mpi = MpiConfiguration(mpi.count("processCountPerNode", 1), mpi.count("nodeCount", 1))
    torch = f.section("pytorch")
    backend = torch.text("communicationBackend", "Nccl") or "Nccl"
    count = torch.get("processCount", (int,), "a whole number >= 1")
    if count is not None and count < 1:
        raise torch.bad("processCount", "a whole number >= 1")
    torch_nodes = torch.count("nodeCount", 1)
    if count is not None and count % torch_nodes:
        raise torch.bad("processCount", f"a multiple of pytorch.nodeCount ({torch_nodes})")
    config.pytorch = PyTorchConfiguration(backend, count, torch_nodes)
    tf = f.section("tensorflow")
    config.tensorflow = TensorflowConfiguration(
        tf.count("workerCount", 1), tf.count("parameterServerCount", 1, least=0)
    )
    # The top-level count is the run's (v1 runs that many nodes); it wins over the sections'.
    config._node_count = nodes
    section = config._distributed_section()
    if section is not None:
        section.node_count = nodes
        if isinstance(section, PyTorchConfiguration):
            try:
                section.spec()
            except AmlError:
                raise f.bad("nodeCount", "a count that divides pytorch.processCount") from None

    history = f.section("history")
    config.history = HistoryConfiguration(
        history.flag("outputCollection", True),
        history.flag("snapshotProject", True),
        history.strings("directoriesToWatch") if "directoriesToWatch" in history.doc else None,
    )
    docker = f.section("docker")
    shm = docker.text("shmSize", "2g")
    config.docker = DockerConfiguration(
        docker.flag("useDocker", False),
        docker.flag("sharedVolumes", True),
        docker.strings("arguments"),
        shm,
    )
    config.environment_variables = f.variables("environmentVariables")

    env_doc = doc.get("environment") if isinstance(doc, dict) else None
    if isinstance(env_doc, str):  # separate_environment_yaml: a path to the section
        config.environment = environment_file.load_section_file(env_doc, project, folder, source)
    elif isinstance(env_doc, dict) and env_doc.get("name") and set(env_doc) <= {"name", "version"}:
        # Only a name: a registered environment, found at submit (what save writes for one).
        version = env_doc.get("version")
        config.environment = str(env_doc["name"]) + (f":{version}" if version else "")
    elif env_doc is not None:
        config.environment = environment_file.from_section(
            env_doc, source, project, folder, "environment"
        )
    for key in KEPT:
        if isinstance(doc, dict) and key in doc:
            config._kept[key] = doc[key]
    return config
