"""Where this process sits in a multi-process launch (``accelerate launch``, ``torchrun``, any
launcher that sets ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``): its device, and the few waits that keep
every output file to one writer, rank 0.

Under a launch every rank trains (DDP); rank 0 alone locks ``--out``, writes the run's files,
evaluates, attacks and reports, while the others wait for it on a gloo control group and exit 0.
A rank that dies closes its connections, so a rank waiting on it stops at once with one line
(``peer_failure``); a rank that hangs stops the others after ``COLLECTIVE_TIMEOUT``.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from unlearnkit.errors import UserError

log = logging.getLogger(__name__)

# Training collectives (the Trainer's own ddp_timeout): a rank that hangs stops the others after it.
COLLECTIVE_TIMEOUT = timedelta(minutes=30)
# Waits on the control group while rank 0 works alone (evaluation can take hours on a big model);
# a rank that dies ends such a wait at once: its sockets close.
WAIT_TIMEOUT = timedelta(hours=24)
# How long rank 0 waits at the end for the others to hear that it is done.
END_TIMEOUT = timedelta(seconds=60)
PEER_FAILURE = (
    "another process of this multi-process launch stopped (its own message says why), so this one "
    "stops too; fix that and run the same command again (with --resume to continue from the last "
    "checkpoint)"
)
_control = None  # the gloo group of the waits; made by join()


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


FSDP_FLAGS = ("ACCELERATE_USE_FSDP", "UNLEARNKIT_FSDP")


def sharded() -> bool:
    """FSDP2 asked for under a launch: ``accelerate launch`` with an FSDP config (it sets
    ``ACCELERATE_USE_FSDP``), or ``UNLEARNKIT_FSDP=1`` under torchrun. The model is then sharded at
    load time (``models.load_model(shard=True)``) and accelerate's own FSDP plugin is switched off
    (:func:`take_sharding`), so that one sharding path serves GPUs and the CPU alike."""
    return launched() and any(os.environ.get(k, "").lower() in ("1", "true") for k in FSDP_FLAGS)


def take_sharding() -> bool:
    """:func:`sharded`, remembered for this process, with accelerate's FSDP plugin turned off
    (on CPU accelerate drops it silently; on GPUs it would shard the model a second time)."""
    if sharded():
        os.environ["UNLEARNKIT_FSDP"] = "1"
        os.environ.pop("ACCELERATE_USE_FSDP", None)
        return True
    return False


def launched() -> bool:
    """Started as one of several processes by a launcher."""
    return world_size() > 1


def is_main() -> bool:
    """Rank 0: the process that writes (also true outside a launch)."""
    return rank() == 0


def _forced_cpu() -> bool:
    return os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true")


def process_device(requested: str | None = None) -> str | None:
    """This process's device, set before anything loads.

    Outside a launch: ``requested`` (None lets ``models.pick_device`` choose), or ``cpu`` when
    ``ACCELERATE_USE_CPU`` is set. Under a launch: ``cuda:LOCAL_RANK`` (made the current CUDA device)
    when CUDA is there and neither ``--device cpu`` nor ``ACCELERATE_USE_CPU`` asks for the CPU;
    otherwise ``cpu``, and ``ACCELERATE_USE_CPU`` is set so that the Trainer's process group is a
    CPU (gloo) one.
    """
    import torch

    if not launched():
        return "cpu" if requested is None and _forced_cpu() else requested
    if requested == "cpu" or _forced_cpu() or not torch.cuda.is_available():
        # accelerate starts several CPU processes only through its torchrun launcher (--multi_gpu).
        os.environ["ACCELERATE_USE_CPU"] = "true"
        return "cpu"
    index = local_rank()
    if requested not in (None, "cuda", f"cuda:{index}"):
        raise UserError(
            f"--device {requested}: under a multi-process launch each process takes its own GPU "
            f"(this one cuda:{index}, from LOCAL_RANK); leave out --device, or give --device cpu"
        )
    if index >= torch.cuda.device_count():
        raise UserError(
            f"LOCAL_RANK {index}, but this machine has {torch.cuda.device_count()} CUDA device(s): "
            "launch at most one process per GPU"
        )
    torch.cuda.set_device(index)
    return f"cuda:{index}"


def take_place(requested: str | None = None) -> str | None:
    """This process's device (``process_device``), with the launch's process group started (and
    FSDP2 taken over from accelerate's plugin when asked for: :func:`take_sharding`)."""
    device = process_device(requested)
    take_sharding()
    join(device)
    return device


def join(device: str | None) -> None:
    """Start the launch's process group (once, on every rank) and its gloo control group.

    The Trainer later reuses this group instead of making its own. Nothing outside a launch.
    """
    global _control
    if not launched() or _control is not None:
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if device and device.startswith("cuda") else "gloo"
        dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)
    _control = dist.new_group(backend="gloo", timeout=WAIT_TIMEOUT)
    signal.signal(signal.SIGTERM, _stop)


class Stopped(KeyboardInterrupt):
    """The launcher stopped this process (SIGTERM): cleaned up as after Ctrl-C, said in one line."""


STOPPED = "stopped by the launcher: another process of this launch ended (its own message says why)"


def _stop(signum, frame) -> None:
    """SIGTERM, which a launcher's agent (torchrun) sends the other ranks when one fails: stop as
    after Ctrl-C, unless this process is already stopping on an error of its own."""
    if sys.exc_info()[0] is None:
        raise Stopped


def _broadcast(value: object) -> object:
    """Rank 0's ``value`` on every rank (the others wait for it, up to ``WAIT_TIMEOUT``)."""
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0, group=_control)
    return box[0]


def share_folder(work: str | None, error: str | None = None) -> None:
    """Rank 0: tell the others the folder it locked (or the one-line error that stopped it)."""
    if _control is not None:
        _broadcast((work, error))


def main_folder() -> str:
    """The others: wait for the folder rank 0 locked and prepared; rank 0's error if it failed."""
    work, error = _broadcast(None)
    if error is not None:
        raise UserError(error)
    return work


def end() -> None:
    """Rank 0, after its last write: tell the others they can exit (a bounded wait, never fatal)."""
    import torch
    import torch.distributed as dist

    if _control is None:
        return
    try:
        dist.broadcast(torch.ones(1), src=0, group=_control, async_op=True).wait(END_TIMEOUT)
    except Exception as e:  # noqa: BLE001 - a rank gone by now cannot lose anything of the run
        log.warning("could not tell the other processes that the run ended: %s", e)


def wait_for_end() -> None:
    """The others: wait until rank 0 has written everything (``end``), then exit."""
    import torch
    import torch.distributed as dist

    dist.broadcast(torch.zeros(1), src=0, group=_control)


@contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. fills a cache), the others after it (reading the cache)."""
    if _control is None:
        yield
        return
    import torch.distributed as dist

    if is_main():
        yield
        dist.barrier(group=_control)
    else:
        dist.barrier(group=_control)
        yield


def gather(value: object) -> list:
    """``value`` of every rank, in rank order (``[value]`` outside a launch)."""
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_initialized():
        return [value]
    values = [None] * dist.get_world_size()
    dist.all_gather_object(values, value, group=_control)
    return values


def peer_failure(e: BaseException) -> str | None:
    """One line for a collective that failed because another rank of the launch stopped."""
    if not launched():
        return None
    import torch.distributed as dist

    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        text = str(e)
        if isinstance(e, dist.DistError) or any(
            mark in text
            for mark in ("Connection closed by peer", "Connection reset by peer", "gloo")
        ):
            return PEER_FAILURE
        e = e.__cause__ or e.__context__
    return None
