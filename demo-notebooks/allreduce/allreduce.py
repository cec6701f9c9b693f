"""A real torch.distributed all-reduce (gloo, CPU): each process adds its rank + 1.

Started by a PyTorchConfiguration(process_count=N): the target sets RANK, WORLD_SIZE,
MASTER_ADDR and MASTER_PORT, which init_process_group("gloo") reads (env://).
"""

import os

import torch
import torch.distributed as dist
from azureml.core import Run

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
value = torch.tensor([float(rank + 1)])
dist.all_reduce(value, op=dist.ReduceOp.SUM)
expected = world * (world + 1) / 2
print(f"rank {rank} of {world} on {os.uname().nodename}: sum = {value.item():g} (expected {expected:g})")
assert value.item() == expected, "all_reduce gave the wrong sum"
if rank == 0:
    Run.get_context().log("allreduce_sum", value.item())
dist.destroy_process_group()
