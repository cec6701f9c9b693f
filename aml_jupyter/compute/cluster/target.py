"""The ``cluster`` target: a Ray cluster, runs submitted as Ray Jobs.

``ComputeCluster.attach(ws, "ray", "http://127.0.0.1:8265")`` (or ``aml compute attach ray
--type cluster --address ...``) registers a cluster by its job-submission address. A submit
takes the snapshot here (our limits, checked before Ray's), sends it as the job's
``working_dir`` (a zip named by the snapshot's hash: an unchanged folder is not sent again,
:mod:`.packages`) and the environment as ``runtime_env`` (pip packages, variables). A single
process that fits what the cluster has free runs in the job's driver, the job asking for the
process's CPU (and GPU) itself; otherwise the job asks for nothing and its driver waits for a
placement group the processes then run in (:mod:`.ray_driver`): a run that waits so can be
canceled at once, which a job pending in Ray's queue cannot. All of it over Ray's job API in
plain HTTP (:mod:`.jobs_api`): Ray need not be installed here, and a submit from a fresh
process does not pay its ~7 s of imports. The entrypoint
(:mod:`aml_jupyter.compute.cluster.ray_driver`) runs the same supervisor as ``local`` and
streams the run folder back through the job's log; the mirror here
(:mod:`aml_jupyter.compute.remote`, :mod:`.ray_remote`) writes it into this workspace, checking
every name, hash and state a frame carries first (:mod:`aml_jupyter.compute.untrusted`). A run
waiting for resources shows as ``Queued`` and says why in its driver log; ``run.cancel()``
stops the job.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from ...errors import AmlError
from .. import ComputeTarget, check_target_name
from ..remote import RemoteUnreachable
from .ray_placement import GPU_RESOURCE_ENV
from .ray_remote import RayRemote as _RayRemote

if TYPE_CHECKING:
    from ...snapshot.snapshot import Snapshot
    from ...tracking.workspace import Workspace
    from .jobs_api import RayJobs

KIND = "ComputeCluster"
#: Ray refuses a job package (working_dir) over 500 MiB; we say so first, with our advice.
RAY_PACKAGE_LIMIT = 500 * 1024 * 1024


def _jobs(address: str) -> RayJobs:
    """The cluster's job-submission API (plain HTTP: no ``import ray`` here)."""
    from .jobs_api import RayJobs

    return RayJobs(address)


def _check_address(address: Any) -> str:
    from .jobs_api import check_address

    return check_address(address)


class ComputeCluster(ComputeTarget):
    """A Ray cluster attached by its job-submission address."""

    @staticmethod
    def attach(
        workspace: Workspace,
        name: str,
        address: str,
        cpus_per_process: float = 1,
        gpus_per_process: float = 0,
    ) -> ComputeCluster:
        """Check the cluster answers at ``address``, then register it as ``name``.

        ``cpus_per_process``/``gpus_per_process``: what each process of a run asks Ray for.
        """
        check_target_name(name)
        address = _check_address(address)
        for what, value in (
            ("cpus_per_process", cpus_per_process),
            ("gpus_per_process", gpus_per_process),
        ):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise AmlError(f"{what} must be a number >= 0, got {value!r}.")
        if cpus_per_process <= 0 and gpus_per_process <= 0:
            raise AmlError("A process must ask for some CPU or GPU (cpus_per_process > 0).")
        try:
            _jobs(address).version()
        except RemoteUnreachable as exc:
            raise AmlError(f"Cannot attach {name!r}: {exc}") from None
        config = {
            "address": address,
            "cpus_per_process": cpus_per_process,
            "gpus_per_process": gpus_per_process,
        }
        workspace.store.attach_compute_target(name, KIND, config)
        return ComputeCluster(workspace, name)

    def get_status(self) -> str:
        """``Running`` when the cluster answers, else ``Unreachable``."""
        try:
            _jobs(self.config["address"]).version()
        except AmlError:
            return "Unreachable"
        return "Running"

    # A submit (compute/submission.py): the snapshot is taken here (our limits, checked
    # before Ray's), sent as a Ray job's working_dir, and the job followed by a mirror.
    _owner_module = "aml_jupyter.compute.remote"

    def _check(self, definition: dict[str, Any]) -> None:
        environment = definition.get("environment")
        if environment and environment["docker"]["enabled"]:
            raise AmlError(
                f"Environment {environment['name']!r} has docker.enabled, which the Ray cluster "
                "target does not run: set env.docker.enabled = False (its pip packages become "
                "the job's runtime_env), or submit it to 'local' or a compute instance."
            )

    def _api(self) -> RayJobs:
        """One kept-alive connection for the whole submit (packages, then the job)."""
        api = self.__dict__.get("_jobs_api")
        if api is None:
            api = self.__dict__["_jobs_api"] = _jobs(self.config["address"])
        return api

    def _prepare(self, snapshot: Snapshot, definition: dict[str, Any]) -> None:
        from . import packages

        if snapshot.size > RAY_PACKAGE_LIMIT:
            raise AmlError(
                f"The snapshot is {snapshot.size / 2**20:.0f} MiB; a Ray job takes at most "
                f"{RAY_PACKAGE_LIMIT // 2**20} MiB of files. Leave data and checkpoints out "
                "with a .amlignore file and read them from shared storage in the script."
            )
        cache = self.workspace.folder / "cache" / "ray"
        try:
            working_dir, module = packages.upload(
                self._api(), cache, self.workspace.blobs, snapshot
            )
            from .data_package import ray_data_package

            data = ray_data_package(
                self.workspace, self._api(), cache, definition, RAY_PACKAGE_LIMIT
            )
        except RemoteUnreachable as exc:
            raise AmlError(f"Cannot submit to {self.name!r}: {exc}") from None
        self.__dict__["_packages"] = (working_dir, module, data)

    def _start(
        self,
        run_id: str,
        experiment: str,
        snapshot: Snapshot,
        definition: dict[str, Any],
        tags: dict[str, Any] | None,
    ) -> None:
        from ..local.sealed_secrets import seal_for_ray
        from .jobs_api import RayRefused
        from .ray_driver import encode_spec

        working_dir, module, data = self.__dict__.pop("_packages")
        nonce = secrets.token_hex(8)
        cpus = self.config.get("cpus_per_process", 1)
        gpus = self.config.get("gpus_per_process", 0)
        # One process that fits what is free now: the driver runs it and its job asks for the
        # process's share, so Ray starts it at once on a node with room. Several processes, or
        # one that would wait: the job asks for nothing (it starts at once, on the head) and
        # its driver waits for a placement group (a bundle per node) the processes then run
        # in. A run that waits so can be canceled at once and never hits Ray's start timeout.
        distributed = bool(definition.get("distributed"))
        variables = (definition.get("environment") or {}).get("environment_variables") or {}
        gpu = str(variables.get(GPU_RESOURCE_ENV, "")).strip() or "GPU"
        own = {"CPU": cpus, gpu: gpus}
        placed = distributed or not self._fits(own)
        asks = {"CPU": 0, gpu: 0} if placed else own
        # Recorded: the mirror's key, what the job asks for (said while it waits), and
        # whether its processes wait in a placement group.
        definition["cluster"] = {"job": run_id, "nonce": nonce, "asks": asks, "placed": placed}
        spec = {
            "id": run_id,
            "experiment": experiment,
            "nonce": nonce,
            "definition": definition,
            "tags": tags or {},
            "resources": {"cpus": cpus, "gpus": gpus},
            "placed": placed,
        }
        runtime_env = self._runtime_env(working_dir, module, definition.get("environment"))
        if data:  # the run's datasets: grants and shipped files, a package of their own
            runtime_env["py_modules"].append(data)
        request = {
            "entrypoint": f"python -m aml_jupyter.compute.cluster.ray_driver {encode_spec(spec)}",
            "submission_id": run_id,
            "runtime_env": runtime_env,
            "metadata": {"aml_run_id": run_id, "aml_experiment": experiment},
            "entrypoint_num_cpus": asks["CPU"],
        }
        if gpu == "GPU":
            request["entrypoint_num_gpus"] = asks["GPU"]
        elif asks[gpu]:  # a resource standing for GPUs (AML_RAY_GPU_RESOURCE)
            request["entrypoint_resources"] = {gpu: asks[gpu]}
        try:
            # The key vault sealed for the run: a package of its own, the key apart from it.
            seal_for_ray(self._api(), self.workspace, run_id, runtime_env)
            self._api().submit(request)
        except RemoteUnreachable as exc:
            raise AmlError(f"Cannot submit to {self.name!r}: {exc}") from None
        except RayRefused as exc:
            raise AmlError(f"Ray refused the job: {exc}") from None

    def _fits(self, asks: dict[str, float]) -> bool:
        """Whether the cluster has room for ``asks`` now, as its last report says."""
        from .ray_resources import fits_now

        try:
            return fits_now(asks, self._api().resources())
        except AmlError:  # no report to go by: the job asks Ray itself
            return True

    @staticmethod
    def _runtime_env(
        working_dir: str, module: str, environment: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The job's runtime_env: the snapshot, aml_jupyter itself, the environment's packages
        and variables (a user-managed environment: the cluster's own Python as it is)."""
        env: dict[str, Any] = {
            "working_dir": working_dir,
            "py_modules": [module],
            "env_vars": {"PYTHONUNBUFFERED": "1"},
        }
        if environment is not None:
            env["env_vars"].update(
                {str(k): str(v) for k, v in environment.get("environment_variables", {}).items()}
            )
            python = environment["python"]
            if not python["user_managed_dependencies"]:
                from ...environments.requirements import is_sdk_package

                deps = python["conda_dependencies"]
                # Azure ML SDK packages are ours inside a run (azureml.core): not installed.
                packages = [p for p in deps.get("pip", []) if not is_sdk_package(p)]
                if deps.get("requirements"):  # a kept requirements file, its -r files inlined
                    from ...environments.requirements import flat_lines

                    packages += flat_lines(deps["requirements"])
                if packages:  # as Ray's own client sends a list of packages
                    env["pip"] = {"packages": packages, "pip_check": False}
        return env

    def _remote(self, run_id: str) -> _RayRemote:
        row = self.workspace.store.get_run(run_id)
        cluster = row.definition.get("cluster") or {}
        if "nonce" not in cluster:
            raise AmlError(f"Run {run_id!r} was not submitted to a Ray cluster.")
        asks = cluster.get("asks")
        return _RayRemote(self.config["address"], cluster["job"], cluster["nonce"], self.name, asks)


__all__ = ["ComputeCluster"]
