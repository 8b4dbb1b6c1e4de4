"""Each process of a multi-process launch takes its own device from ``LOCAL_RANK`` before anything
loads, in every command; outside a launch the device is what the user asked for. CUDA is mocked
(``torch.cuda.is_available`` / ``device_count`` / ``set_device``): the logic, not a GPU, is tested."""

from __future__ import annotations

import pytest
import torch

import unlearnkit.models
from test_reliability_common import FAST, SPLIT, cli, save_model, write_data
from unlearnkit import launch
from unlearnkit.errors import UserError

LAUNCH_ENV = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "ACCELERATE_USE_CPU")


@pytest.fixture
def gpus(monkeypatch):
    """A machine with 4 CUDA devices of 80 GiB free; ``set_device`` calls are recorded."""
    chosen: list[int] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda index=None: (80 * 2**30, 80 * 2**30))
    return chosen


def as_rank(monkeypatch, local_rank: int, rank: int | None = None, world: int = 2) -> None:
    for name in LAUNCH_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORLD_SIZE", str(world))
    monkeypatch.setenv("RANK", str(local_rank if rank is None else rank))
    monkeypatch.setenv("LOCAL_RANK", str(local_rank))


def alone(monkeypatch) -> None:
    for name in LAUNCH_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("local_rank", [0, 1, 3])
@pytest.mark.parametrize("requested", [None, "cuda"])
def test_a_launched_process_takes_the_gpu_of_its_local_rank(
    monkeypatch, gpus, local_rank, requested
):
    as_rank(monkeypatch, local_rank)
    assert launch.process_device(requested) == f"cuda:{local_rank}"
    assert gpus == [local_rank]  # made the current device: a bare "cuda" is this GPU too


def test_a_launched_process_without_cuda_runs_on_cpu_over_gloo(monkeypatch):
    as_rank(monkeypatch, 1)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert launch.process_device(None) == "cpu"
    assert launch.process_device("cuda") == "cpu"
    assert launch.os.environ["ACCELERATE_USE_CPU"] == "true"  # the Trainer's group is gloo


@pytest.mark.parametrize("how", ["--device cpu", "ACCELERATE_USE_CPU"])
def test_a_launched_process_stays_on_cpu_when_asked(monkeypatch, gpus, how):
    as_rank(monkeypatch, 1)
    if how == "ACCELERATE_USE_CPU":
        monkeypatch.setenv("ACCELERATE_USE_CPU", "1")
    assert launch.process_device("cpu" if how == "--device cpu" else None) == "cpu"
    assert gpus == []


def test_a_launched_process_refuses_another_ranks_gpu(monkeypatch, gpus):
    as_rank(monkeypatch, 1)
    with pytest.raises(UserError, match="cuda:1, from LOCAL_RANK"):
        launch.process_device("cuda:0")


def test_more_processes_than_gpus_is_one_line(monkeypatch, gpus):
    as_rank(monkeypatch, 4, world=8)
    with pytest.raises(UserError, match="4 CUDA device"):
        launch.process_device(None)


@pytest.mark.parametrize("requested", [None, "cuda", "cuda:2", "cpu"])
def test_outside_a_launch_the_device_is_the_users(monkeypatch, gpus, requested):
    alone(monkeypatch)
    assert launch.process_device(requested) == requested
    assert gpus == []
    assert not launch.launched() and launch.is_main()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("launch")
    return write_data(root / "data"), save_model(root / "model", trained=True)


def command_argv(command: str, data, model, out) -> list:
    """The command on the toy data, with no --device: the launch decides it."""
    common = ["--data", data, "--model", model, "--out", out]
    if command == "run":
        return ["run", "--method", "ga", "--split", SPLIT, *common, "eval.skip=true", *FAST]
    if command == "eval":
        return ["eval", "--benchmark", "tofu", "--split", SPLIT, *common]
    if command == "attack":
        return ["attack", "prefill", "--benchmark", "tofu", "--split", SPLIT, *common]
    return ["finetune", "--split", SPLIT, *common]


class Loaded(Exception):
    pass


@pytest.mark.parametrize("command", ["run", "eval", "attack", "finetune"])
def test_every_command_loads_its_model_on_the_gpu_of_its_local_rank(
    monkeypatch, gpus, files, tmp_path, capfd, command
):
    """Rank 0 of a launch whose LOCAL_RANK is 2 (a second machine's first GPU would be similar)."""
    as_rank(monkeypatch, 2, rank=0, world=4)
    monkeypatch.setattr(launch, "join", lambda device: None)  # no other process to meet
    seen: list = []

    def load_model(path, device=None, **kwargs):
        seen.append(device)
        raise Loaded

    monkeypatch.setattr(unlearnkit.models, "load_model", load_model)
    data, model = files
    with pytest.raises(Loaded):
        cli(capfd, ["--debug", *command_argv(command, data, model, tmp_path / "out")])
    assert seen == ["cuda:2"]
    assert gpus[0] == 2  # set before the model was loaded
