"""Azure VM sizes as v1's provisioning configurations name them: CPUs, GPUs and memory a node.

One machine stands in for the whole cluster (see docs/azureml-v1-coverage-compute.md): a
node's size becomes what each run asks of it, so ``STANDARD_D2_V2`` runs get 2 CPUs each and
``max_nodes`` of them run at once. GPUs are capped at what this machine has (a GPU size on a
machine with none runs on CPU, and ``create`` says so once).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import NamedTuple

from ..errors import ComputeTargetException


class VmSize(NamedTuple):
    """One size: its name as Azure spells it, cores, GPUs and memory of one node."""

    name: str
    cpus: int
    gpus: int
    memory_gb: float


_TABLE = [
    # general purpose (D, Dv2, DSv2, Dv3, Dsv3, Dv4), compute (F), memory (E)
    VmSize("Standard_D1_v2", 1, 0, 3.5),
    VmSize("Standard_D2_v2", 2, 0, 7),
    VmSize("Standard_D3_v2", 4, 0, 14),
    VmSize("Standard_D4_v2", 8, 0, 28),
    VmSize("Standard_D5_v2", 16, 0, 56),
    VmSize("Standard_D11_v2", 2, 0, 14),
    VmSize("Standard_D12_v2", 4, 0, 28),
    VmSize("Standard_D13_v2", 8, 0, 56),
    VmSize("Standard_D14_v2", 16, 0, 112),
    VmSize("Standard_DS1_v2", 1, 0, 3.5),
    VmSize("Standard_DS2_v2", 2, 0, 7),
    VmSize("Standard_DS3_v2", 4, 0, 14),
    VmSize("Standard_DS4_v2", 8, 0, 28),
    VmSize("Standard_DS5_v2", 16, 0, 56),
    VmSize("Standard_DS11_v2", 2, 0, 14),
    VmSize("Standard_DS12_v2", 4, 0, 28),
    VmSize("Standard_D2_v3", 2, 0, 8),
    VmSize("Standard_D4_v3", 4, 0, 16),
    VmSize("Standard_D8_v3", 8, 0, 32),
    VmSize("Standard_D16_v3", 16, 0, 64),
    VmSize("Standard_D2s_v3", 2, 0, 8),
    VmSize("Standard_D4s_v3", 4, 0, 16),
    VmSize("Standard_D8s_v3", 8, 0, 32),
    VmSize("Standard_D16s_v3", 16, 0, 64),
    VmSize("Standard_D2ds_v4", 2, 0, 8),
    VmSize("Standard_D4ds_v4", 4, 0, 16),
    VmSize("Standard_F2s_v2", 2, 0, 4),
    VmSize("Standard_F4s_v2", 4, 0, 8),
    VmSize("Standard_F8s_v2", 8, 0, 16),
    VmSize("Standard_F16s_v2", 16, 0, 32),
    VmSize("Standard_E4s_v3", 4, 0, 32),
    VmSize("Standard_E8s_v3", 8, 0, 64),
    VmSize("Standard_E16s_v3", 16, 0, 128),
    # GPU (NC: K80, NCv2: P100, NCv3: V100, NCasT4_v3: T4, ND: P40/V100, NV: M60, A100)
    VmSize("Standard_NC6", 6, 1, 56),
    VmSize("Standard_NC12", 12, 2, 112),
    VmSize("Standard_NC24", 24, 4, 224),
    VmSize("Standard_NC6s_v2", 6, 1, 112),
    VmSize("Standard_NC12s_v2", 12, 2, 224),
    VmSize("Standard_NC24s_v2", 24, 4, 448),
    VmSize("Standard_NC6s_v3", 6, 1, 112),
    VmSize("Standard_NC12s_v3", 12, 2, 224),
    VmSize("Standard_NC24s_v3", 24, 4, 448),
    VmSize("Standard_NC4as_T4_v3", 4, 1, 28),
    VmSize("Standard_NC8as_T4_v3", 8, 1, 56),
    VmSize("Standard_NC16as_T4_v3", 16, 1, 110),
    VmSize("Standard_NC64as_T4_v3", 64, 4, 440),
    VmSize("Standard_ND6s", 6, 1, 112),
    VmSize("Standard_ND12s", 12, 2, 224),
    VmSize("Standard_ND24s", 24, 4, 448),
    VmSize("Standard_ND40rs_v2", 40, 8, 672),
    VmSize("Standard_NV6", 6, 1, 56),
    VmSize("Standard_NV12", 12, 2, 112),
    VmSize("Standard_NC24ads_A100_v4", 24, 1, 220),
    VmSize("Standard_NC48ads_A100_v4", 48, 2, 440),
]
SIZES: dict[str, VmSize] = {s.name.upper(): s for s in _TABLE}


def vm_size(name: object, default: str) -> VmSize:
    """The size named ``name`` (any case; '' or None: ``default``), or a clear error."""
    if name in (None, ""):
        name = default
    if not isinstance(name, str):
        raise ComputeTargetException(
            f"vm_size must be a name such as 'STANDARD_D2_V2', got {name!r}."
        )
    found = SIZES.get(name.strip().upper())
    if found is None:
        some = "STANDARD_D2_V2, STANDARD_DS3_V2, STANDARD_D4S_V3, STANDARD_NC6, STANDARD_NC6S_V3"
        raise ComputeTargetException(
            f"Unknown vm_size {name!r}. Known sizes include {some}; "
            "AmlCompute.supported_vmsizes(ws) lists them all."
        )
    return found


def machine_gpus() -> int:
    """How many GPUs this machine shows (``CUDA_VISIBLE_DEVICES`` when set, else
    ``nvidia-smi -L``); 0 without a driver."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return 0
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def supported_sizes() -> list[dict[str, object]]:
    """Every size, as v1's ``supported_vmsizes`` lists them."""
    return [
        {"name": s.name, "vCPUs": s.cpus, "gpus": s.gpus, "memoryGB": s.memory_gb} for s in _TABLE
    ]


__all__ = ["SIZES", "VmSize", "machine_gpus", "supported_sizes", "vm_size"]
