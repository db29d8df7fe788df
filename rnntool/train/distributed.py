"""Running one training command as N processes under ``torchrun`` (DDP).

torchrun's environment is the whole launch contract: ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE`` (with ``MASTER_ADDR``/``MASTER_PORT``). The rules that keep N ranks
one run:

- every rank builds the same model from the same seed; DDP averages gradients;
- ``--batch-size`` is the global batch: each rank takes its own share of it;
- rank 0 alone validates, writes the model file, the checkpoint, the log and progress;
  the validation result is broadcast so every rank keeps the same history;
- stopping (time budget, NaN loss, Ctrl-C/SIGTERM) is decided from values all-reduced
  across ranks, so every rank stops at the same step.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import torch

from rnntool.errors import RnntoolError

# Keeps rank r's dropout draws apart from rank 0's (rank 0 keeps the single-process stream).
RANK_SEED_STRIDE = 1_000_003
# How gloo words a collective whose peer process has gone (other collective failures -- a
# timeout, NCCL's own errors -- keep their own message)
_PEER_GONE = re.compile(r"connection (reset|closed|refused)|broken pipe|peer.*(closed|hung up)", re.IGNORECASE)


class LostPeerError(RnntoolError):
    """Another rank of the run went away (killed, out of memory) in the middle of a collective."""


def launched() -> bool:
    """Started by torchrun (or another launcher that sets the torch.distributed variables)?"""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


@dataclass
class Distributed:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    backend: str | None = None  # None: a single process
    owns_group: bool = False  # the process group was made here (not by the caller's script)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def all_sum(self, values: list[float], device: torch.device) -> list[float]:
        """Element-wise sums over ranks (one collective); identity for one process."""
        if not self.active:
            return list(values)
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=device if self.backend == "nccl" else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.tolist()

    def broadcast(self, obj):
        """Rank 0's ``obj`` on every rank."""
        if not self.active:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj) -> list:
        """Every rank's ``obj``, in rank order (on every rank)."""
        if not self.active:
            return [obj]
        import torch.distributed as dist

        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def wrap(self, model: torch.nn.Module, device: torch.device, find_unused: bool = False) -> torch.nn.Module:
        if not self.active:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids, output_device=ids[0] if ids else None,
                                       find_unused_parameters=find_unused)

    def barrier(self) -> None:
        if self.active:
            import torch.distributed as dist

            dist.barrier()

    def lost_peer(self, error: BaseException, checkpoint: os.PathLike | None) -> LostPeerError | None:
        """The one-line error for a collective that failed because another rank went away
        (killed, out of memory): gloo and NCCL report it as a RuntimeError naming a socket,
        not a rank. None for any other error."""
        if not self.active or not isinstance(error, RuntimeError) or not _PEER_GONE.search(str(error)):
            return None
        who = f"rank {1 - self.rank} of 2" if self.world_size == 2 else f"another of the {self.world_size} ranks"
        resume = (f"; the last checkpoint resumes the run: add --resume {checkpoint}"
                  if checkpoint is not None and os.path.exists(checkpoint) else "; no checkpoint was written yet")
        return LostPeerError(f"rank {self.rank} lost {who} (its connection closed: killed, or out of memory?) "
                             f"and stops{resume}")

    def close(self) -> None:
        """Tears down the process group this run made; a caller's own group is left to it."""
        if self.active and self.owns_group:
            _destroy_group()


def _destroy_group() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def _unpin_caller_group() -> None:
    """Lets a caller's process group be freed when the caller destroys it.

    Training imports torch._dynamo (torch's optimizers do, and DDP), which imports
    torch.distributed.nn.functional, whose functions take ``group=group.WORLD`` as a default
    argument: evaluated at import, after the caller's init_process_group (by torchrun or not,
    of any size), it holds the group for the life of the process, so the caller's
    destroy_process_group frees nothing and gloo's threads run into interpreter exit, where
    they abort the rank about one run in ten ("terminate called without an active exception",
    seen in CI). Imported before any group, those defaults are None, which every one of those
    functions takes to mean the default group: put back here, the same meaning."""
    import torch._dynamo  # noqa: F401  (what training imports: the module below with it)
    import torch.distributed.nn.functional as functional
    from torch.distributed import ProcessGroup

    for value in vars(functional).values():
        defaults = getattr(value, "__defaults__", None)
        if getattr(value, "__module__", None) == functional.__name__ and defaults:
            value.__defaults__ = tuple(None if isinstance(d, ProcessGroup) else d for d in defaults)


def resolve_device(name: str, local_rank: int | None = None) -> torch.device:
    """The device a run trains on; under torchrun, GPUs are cuda:LOCAL_RANK."""
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        name = "cuda" if cuda else "mps" if mps and local_rank is None else "cpu"
    if name.startswith("cuda") and not cuda:
        raise RnntoolError(f"--device {name}: CUDA is not available on this machine; use --device cpu or auto")
    if name == "mps" and not mps:
        raise RnntoolError("--device mps: Apple MPS is not available on this machine; use --device cpu or auto")
    if local_rank is not None:
        if name == "mps":
            raise RnntoolError("torchrun training runs on CPUs (gloo) or CUDA GPUs (NCCL), not on Apple MPS")
        if name.startswith("cuda"):
            if name != "cuda":
                raise RnntoolError(f"under torchrun each rank uses cuda:LOCAL_RANK; give --device cuda, not {name}")
            return torch.device("cuda", local_rank)
    try:
        return torch.device(name)
    except RuntimeError:
        raise RnntoolError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None


def setup(device_name: str) -> tuple[Distributed, torch.device]:
    """The process group (when launched by torchrun) and this rank's device."""
    import torch.distributed as dist  # (setup's own name: it imports torch._dynamo below)

    if dist.is_available() and dist.is_initialized():
        _unpin_caller_group()  # whatever this run then does with the caller's group
    if not launched():
        return Distributed(), resolve_device(device_name)
    try:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
    except ValueError:
        raise RnntoolError("RANK, LOCAL_RANK and WORLD_SIZE must be integers (set by torchrun)") from None
    device = resolve_device(device_name, local_rank)
    if world == 1:
        return Distributed(rank, local_rank, 1), device
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if dist.is_initialized():  # the caller's script made it: used, and left to the caller
        return Distributed(rank, local_rank, world, backend), device
    # A group must be gone, its threads joined, before the interpreter exits: gloo's threads
    # left running into exit can abort a rank after a good run ("terminate called without an
    # active exception", seen in CI). Two things kept it alive: with torch 2.13, importing
    # torch._dynamo (the optimizer and DDP do, on first use) after a group exists keeps ten
    # references to it (_unpin_caller_group), so destroy_process_group freed nothing --
    # imported first, it does not; and an error between here and the end of training skips
    # close() -- the exit hook covers that.
    import atexit

    import torch._dynamo  # noqa: F401

    dist.init_process_group(backend=backend, init_method="env://")
    atexit.register(_destroy_group)
    return Distributed(rank, local_rank, world, backend, owns_group=True), device
