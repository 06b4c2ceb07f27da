"""Process-group setup for `torchrun`: the same training code runs as one process or as N DDP ranks.

`torchrun --nproc_per_node N -m fastpitch train …` sets RANK, WORLD_SIZE and LOCAL_RANK; without them the run is
a single process and every collective below is a no-op.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from fastpitch.errors import FastPitchError


@dataclass
class Distributed:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device_type: str) -> Distributed:
        """Join the process group that torchrun describes (nccl on CUDA, gloo on CPU), if any."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return cls()
        rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        if device_type == "cuda":
            if local_rank >= torch.cuda.device_count():
                raise FastPitchError(
                    f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} CUDA device(s) visible"
                )
            torch.cuda.set_device(local_rank)
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
        return cls(rank=rank, world_size=world_size, local_rank=local_rank)

    def all_reduce_mean(self, t: torch.Tensor) -> torch.Tensor:
        if self.enabled:
            dist.all_reduce(t)
            t /= self.world_size
        return t

    def all_reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        if self.enabled:
            dist.all_reduce(t)
        return t

    def gather_json(self, obj: object, device: torch.device) -> list:
        """Every rank's JSON-able `obj`, in rank order (sent as UTF-8 bytes, not pickles)."""
        if not self.enabled:
            return [obj]
        data = torch.tensor(bytearray(json.dumps(obj).encode()), dtype=torch.uint8, device=device)
        size = torch.tensor([data.numel()], device=device)
        sizes = [torch.zeros_like(size) for _ in range(self.world_size)]
        dist.all_gather(sizes, size)
        longest = int(max(s.item() for s in sizes))
        padded = torch.zeros(longest, dtype=torch.uint8, device=device)
        padded[: data.numel()] = data
        chunks = [torch.zeros_like(padded) for _ in range(self.world_size)]
        dist.all_gather(chunks, padded)
        return [
            json.loads(bytes(c[: int(s.item())].cpu().tolist())) for c, s in zip(chunks, sizes, strict=True)
        ]

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()
