"""v1's ``AmlCompute``: a managed cluster, here a Ray cluster this package starts and stops.

::

    try:
        cluster = ComputeTarget(workspace=ws, name="cpu-cluster")
    except ComputeTargetException:
        config = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=4)
        cluster = ComputeTarget.create(ws, "cpu-cluster", config)
    cluster.wait_for_completion(show_output=True)

With ``AML_RAY_ADDRESS`` set when it is created, the target submits to that Ray cluster (its
job-submission address, as ``ComputeCluster.attach`` takes) and never starts or stops it.
Otherwise it runs on a Ray head on this machine (:mod:`.managed_head`): started by the first
submit (or by ``wait_for_completion`` when ``min_nodes`` > 0), stopped after
``idle_seconds_before_scaledown`` without runs, started again by the next submit.

The VM size is honoured as one machine can (:mod:`aml_jupyter.compute.vm_sizes`): each run
asks Ray for one node's CPUs (and GPUs, at most this machine's), and the head has
``cpus x max_nodes`` logical CPUs, so at most ``max_nodes`` runs (or processes of a
distributed run) run at once and the others wait ``Queued``. A "node" in ``get_status()``
and ``list_nodes()`` is one such slot.
"""

from __future__ import annotations

import builtins
import os
import time
import warnings
from typing import TYPE_CHECKING, Any

from ...errors import ComputeTargetException
from ..compute_status import ComputeStatus
from ..vm_sizes import machine_gpus, supported_sizes, vm_size
from .managed_head import HeadFiles, ensure_head, head_answers, running_head, stop_head
from .target import ComputeCluster

if TYPE_CHECKING:
    from ...snapshot.snapshot import Snapshot
    from ...tracking.run import Run
    from ...tracking.workspace import Workspace
    from .ray_remote import RayRemote

KIND = "AmlCompute"
#: A Ray cluster to submit to instead of a head on this machine (read by ``create``).
ADDRESS_VARIABLE = "AML_RAY_ADDRESS"
DEFAULT_VM_SIZE = "STANDARD_NC6"  # v1's default
DEFAULT_MAX_NODES = 4


def _count(value: Any, what: str, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ComputeTargetException(f"{what} must be a whole number >= {low}, got {value!r}.")
    return value


class AmlComputeProvisioningConfiguration:
    """What ``AmlCompute.provisioning_configuration`` returns: checked at once."""

    def __init__(self, **settings: Any) -> None:
        size = vm_size(settings.get("vm_size"), DEFAULT_VM_SIZE)
        self.vm_size = size.name.upper()
        self.vm_priority = settings.get("vm_priority") or "dedicated"
        if self.vm_priority not in ("dedicated", "lowpriority"):
            raise ComputeTargetException(
                f"vm_priority must be 'dedicated' or 'lowpriority', got {self.vm_priority!r}."
            )
        max_nodes = settings.get("max_nodes")
        self.max_nodes = _count(
            DEFAULT_MAX_NODES if max_nodes is None else max_nodes, "max_nodes", 1
        )
        self.min_nodes = _count(settings.get("min_nodes", 0), "min_nodes", 0)
        if self.min_nodes > self.max_nodes:
            raise ComputeTargetException(
                f"min_nodes ({self.min_nodes}) is more than max_nodes ({self.max_nodes})."
            )
        idle = settings.get("idle_seconds_before_scaledown")
        self.idle_seconds_before_scaledown = _count(
            1800 if idle is None else idle, "idle_seconds_before_scaledown", 1
        )
        self.tags = dict(settings.get("tags") or {})
        self.description = settings.get("description")

    def validate_configuration(self) -> None:
        """v1's check: done when the configuration was made."""

    def _create(self, workspace: Workspace, name: str) -> AmlCompute:
        size = vm_size(self.vm_size, DEFAULT_VM_SIZE)
        gpus = min(size.gpus, machine_gpus())
        if gpus < size.gpus:
            warnings.warn(
                f"{size.name.upper()} has {size.gpus} GPU(s) a node; this machine has "
                f"{machine_gpus()}, so each run of {name!r} gets {gpus}.",
                stacklevel=3,
            )
        address = os.environ.get(ADDRESS_VARIABLE, "").strip() or None
        if address is not None:
            from .jobs_api import check_address

            address = check_address(address)
            if not head_answers(address):
                raise ComputeTargetException(
                    f"{ADDRESS_VARIABLE} names {address}, where no Ray cluster answers: start "
                    f"it (`ray start --head`), or unset {ADDRESS_VARIABLE} to have {name!r} run "
                    "on a Ray head on this machine."
                )
        config = {
            "address": address,
            "managed": address is None,
            "vm_size": size.name.upper(),
            "vm_priority": self.vm_priority,
            "min_nodes": self.min_nodes,
            "max_nodes": self.max_nodes,
            "idle_seconds_before_scaledown": self.idle_seconds_before_scaledown,
            "cpus_per_process": size.cpus,
            "gpus_per_process": gpus,
            "tags": self.tags,
            "description": self.description,
            "created_utc": time.time(),
        }
        workspace.store.attach_compute_target(name, KIND, config)
        return AmlCompute(workspace, name)


class AmlCompute(ComputeCluster):
    """A managed cluster: ``ComputeTarget.create(ws, name, AmlCompute.provisioning_configuration(...))``."""

    @staticmethod
    def provisioning_configuration(
        vm_size: str = "",
        vm_priority: str = "dedicated",
        min_nodes: int = 0,
        max_nodes: int | None = None,
        idle_seconds_before_scaledown: int | None = None,
        admin_username: str | None = None,
        admin_user_password: str | None = None,
        admin_user_ssh_key: str | None = None,
        vnet_resourcegroup_name: str | None = None,
        vnet_name: str | None = None,
        subnet_name: str | None = None,
        tags: dict[str, str] | None = None,
        description: str | None = None,
        remote_login_port_public_access: str = "NotSpecified",
        identity_type: str | None = None,
        identity_id: Any = None,
        location: str | None = None,
        enable_node_public_ip: bool = True,
    ) -> AmlComputeProvisioningConfiguration:
        """v1's signature; the network, login and identity settings have no meaning on one
        machine and are accepted as they are."""
        return AmlComputeProvisioningConfiguration(
            vm_size=vm_size,
            vm_priority=vm_priority,
            min_nodes=min_nodes,
            max_nodes=max_nodes,
            idle_seconds_before_scaledown=idle_seconds_before_scaledown,
            tags=tags,
            description=description,
        )

    @staticmethod
    def supported_vmsizes(
        workspace: Workspace, location: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        """The VM sizes a provisioning configuration takes (name, vCPUs, gpus, memoryGB)."""
        return supported_sizes()

    def __init__(self, workspace: Workspace, name: str) -> None:
        super().__init__(workspace, name)
        self._managed = bool(self.config.get("managed"))
        if self._managed:  # the head's address changes with each start
            state = running_head(workspace.folder, name)
            self.config["address"] = state.get("address") if state else None

    # v1's attributes ----------------------------------------------------------------------
    @property
    def vm_size(self) -> str:
        return str(self.config["vm_size"])

    @property
    def vm_priority(self) -> str:
        return str(self.config.get("vm_priority", "dedicated"))

    @property
    def scale_settings(self) -> dict[str, int]:
        return {
            "minimum_node_count": int(self.config["min_nodes"]),
            "maximum_node_count": int(self.config["max_nodes"]),
            "idle_seconds_before_scaledown": int(self.config["idle_seconds_before_scaledown"]),
        }

    @property
    def provisioning_state(self) -> str:
        return "Succeeded"

    @property
    def tags(self) -> dict[str, str]:
        return dict(self.config.get("tags") or {})

    @property
    def description(self) -> str | None:
        return self.config.get("description")

    # state ----------------------------------------------------------------------------------
    def _head_up(self) -> bool:
        if self._managed:  # another process may have started or stopped it since
            state = running_head(self.workspace.folder, self.name)
            address = state.get("address") if state else None
            if address != self.config.get("address"):
                self.__dict__.pop("_jobs_api", None)
                self.config["address"] = address
        return head_answers(self.config.get("address"))

    def _running_jobs(self) -> int:
        from .jobs_api import RayJobs

        try:
            jobs = RayJobs(str(self.config["address"]), timeout=5.0).jobs()
        except Exception:  # the head stopped meanwhile
            return 0
        return sum(1 for job in jobs if job.get("status") == "RUNNING")

    def get_status(self) -> ComputeStatus:
        """v1's ``AmlComputeStatus`` (as a ``str``: ``"Succeeded"``, or ``"Unreachable"`` for a
        configured cluster that does not answer): node counts by state, scale settings."""
        up = self._head_up()
        if not self._managed and not up:
            return ComputeStatus(
                "Unreachable",
                provisioning_state="Failed",
                errors=[
                    {"message": f"The Ray cluster at {self.config['address']} does not answer."}
                ],
            )
        running = self._running_jobs() if up else 0
        nodes = max(running, int(self.config["min_nodes"]), 1 if up else 0)
        return ComputeStatus(
            "Succeeded",
            provisioning_state="Succeeded",
            allocation_state="Steady",
            current_node_count=nodes,
            target_node_count=nodes,
            vm_size=self.vm_size,
            vm_priority=self.vm_priority,
            creation_time=self.config.get("created_utc"),
            errors=None,
            scale_settings={
                "minimum_node_count": self.config["min_nodes"],
                "maximum_node_count": self.config["max_nodes"],
                "node_idle_time_before_scale_down": self.config["idle_seconds_before_scaledown"],
            },
            node_state_counts={
                "idle_node_count": nodes - running,
                "running_node_count": running,
                "preparing_node_count": 0,
                "unusable_node_count": 0,
                "leaving_node_count": 0,
                "preempted_node_count": 0,
            },
        )

    @property
    def status(self) -> ComputeStatus:
        """v1's ``status`` attribute: :meth:`get_status` now."""
        return self.get_status()

    def list_nodes(self) -> builtins.list[dict[str, Any]]:
        """One entry per node slot in use (see the module docstring), v1's keys."""
        status = self.get_status()
        if str(status) != "Succeeded":
            return []
        running = status.node_state_counts["running_node_count"]
        return [
            {
                "nodeId": f"{self.name}-node-{i + 1}",
                "port": 0,
                "publicIpAddress": None,
                "privateIpAddress": "127.0.0.1",
                "nodeState": "running" if i < running else "idle",
            }
            for i in range(status.current_node_count)
        ]

    def wait_for_completion(
        self,
        show_output: bool = False,
        min_node_count: int | None = None,
        timeout_in_minutes: int = 25,
        is_delete_operation: bool = False,
        **_: Any,
    ) -> None:
        """Provisioning is immediate; with ``min_nodes`` (or ``min_node_count``) > 0 the head
        is started now, as v1 started that many nodes."""
        wanted = int(self.config["min_nodes"]) if min_node_count is None else min_node_count
        if self._managed and wanted > 0:
            self._ensure()
        if show_output:
            print('InProgress.\nSucceededProvisioning operation finished, operation "Succeeded"')
            print("Succeeded\nAmlCompute wait for completion finished\n")
            print("Minimum number of nodes requested have been provisioned")

    def update(
        self,
        min_nodes: int | None = None,
        max_nodes: int | None = None,
        idle_seconds_before_scaledown: int | None = None,
    ) -> None:
        """Change the scale settings (a running head takes a new ``max_nodes`` once it
        restarts; the idle time applies at once)."""
        config = dict(self.config)
        if min_nodes is not None:
            config["min_nodes"] = _count(min_nodes, "min_nodes", 0)
        if max_nodes is not None:
            config["max_nodes"] = _count(max_nodes, "max_nodes", 1)
        if idle_seconds_before_scaledown is not None:
            config["idle_seconds_before_scaledown"] = _count(
                idle_seconds_before_scaledown, "idle_seconds_before_scaledown", 1
            )
        if config["min_nodes"] > config["max_nodes"]:
            raise ComputeTargetException(
                f"min_nodes ({config['min_nodes']}) is more than max_nodes ({config['max_nodes']})."
            )
        if self._managed:
            config["address"] = None  # the head's address lives in its state file
        self.workspace.store.attach_compute_target(self.name, KIND, config)
        self.config.update({k: v for k, v in config.items() if k != "address"})

    def get_active_runs(
        self,
        type: str | None = None,
        tags: Any = None,
        properties: Any = None,
        status: str | None = None,
    ) -> builtins.list[Run]:
        """The workspace's active runs on this target, newest first."""
        from ...status import RunStatus

        found = []
        for row in self.workspace.store.list_runs(status=RunStatus.ACTIVE, limit=1000):
            if row.target == self.name and (status is None or row.status == status):
                found.append(self.workspace.get_run(row.id))
        return found

    # ending ---------------------------------------------------------------------------------
    def delete(self) -> None:
        """Stop the head this package started (never a configured cluster) and forget the
        target; refused while runs on it are active."""
        self._refuse_if_busy()
        if self._managed:
            stop_head(self.workspace.folder, self.name)
        super().detach()
        for path in (HeadFiles(self.workspace.folder, self.name).used,):
            path.unlink(missing_ok=True)

    detach = delete

    def _refuse_if_busy(self) -> None:
        active = self._active_runs()
        if active:
            raise ComputeTargetException(
                f"Compute target {self.name!r} has {len(active)} active run(s) "
                f"({', '.join(r.id for r in active[:3])}); wait for them or cancel them first."
            )

    # submitting -----------------------------------------------------------------------------
    def _ensure(self) -> str:
        if not self._managed:
            return str(self.config["address"])
        cpus = int(self.config["cpus_per_process"]) * int(self.config["max_nodes"])
        note = f" ({self.config['max_nodes']} nodes of {self.vm_size}: {cpus} CPUs)"
        address = ensure_head(self.workspace.folder, self.name, cpus, note)
        if address != self.config.get("address"):
            self.__dict__.pop("_jobs_api", None)
            self.config["address"] = address
        return address

    def _check(self, definition: dict[str, Any]) -> None:
        super()._check(definition)
        self._ensure()

    def _start(
        self,
        run_id: str,
        experiment: str,
        snapshot: Snapshot,
        definition: dict[str, Any],
        tags: dict[str, Any] | None,
    ) -> None:
        super()._start(run_id, experiment, snapshot, definition, tags)
        # Which head the job went to: the mirror follows it there (the next start has
        # another address).
        definition["cluster"]["address"] = self.config["address"]
        if self._managed:
            HeadFiles(self.workspace.folder, self.name).touch()

    def _remote(self, run_id: str) -> RayRemote:
        row = self.workspace.store.get_run(run_id)
        address = (row.definition.get("cluster") or {}).get("address")
        if address:
            self.config["address"] = address
        if not self.config.get("address"):
            raise ComputeTargetException(
                f"Run {run_id!r} went to a Ray head of {self.name!r} that has stopped since."
            )
        return super()._remote(run_id)

    def __repr__(self) -> str:
        return (
            f"AmlCompute(name={self.name!r}, vm_size={self.vm_size!r}, "
            f"max_nodes={self.config['max_nodes']})"
        )


__all__ = ["ADDRESS_VARIABLE", "AmlCompute", "AmlComputeProvisioningConfiguration"]
