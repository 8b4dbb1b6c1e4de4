"""`unlearn run` under `accelerate launch` with 2 CPU processes (DDP over gloo), through the CLI:

- its metrics.json equals one process's run on the same global batch (2 × 2 rows against 1 × 4;
  SGD in fp32, so that the weights, and with them the metrics, stay comparable: see
  ``test_trainer_ddp.py``), apart from the fields that say how many processes ran;
- every file of the run is written by one process, rank 0 (a start-up hook in every process,
  ``tests/write_trace/sitecustomize.py``, records each file opened for writing or renamed into place),
  and rank 0 alone took the output lock;
- a rank that dies makes the other exit with one line within a bounded time, with and without the
  launcher's agent watching the processes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_reliability_common import FAST, SPLIT, save_model, subprocess_env, write_data
from test_reliability_outputs import messages

ROOT = Path(__file__).resolve().parents[1]
TRACE_HOOK = Path(__file__).resolve().parent / "write_trace"
LAUNCH = [
    sys.executable,
    "-m",
    "accelerate.commands.launch",
    "--config_file",
    str(ROOT / "configs" / "accelerate" / "ddp_cpu.yaml"),
    "--num_processes",
    "2",
]
# As in test_trainer_ddp.py: the same computation summed in another order (per process, then the
# mean of the two), through a few SGD steps.
REL, ABS = 1e-4, 1e-5
SGD = [
    "train.optimizer=sgd",
    "train.learning_rate=0.05",
    "train.precision=fp32",
    "train.logging_steps=1",
]
# The fields that say how many processes ran, and timings.
PER_LAUNCH = {
    "world_size",
    "sharding",
    "rank_seeds",
    "seconds",
    "runtime_s",
    "step_seconds",
    "log_history",
    "resumed_from",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_ddp")
    return write_data(root / "data"), save_model(root / "model", trained=True)


def run_argv(data: Path, model: Path, out: Path, batch_size: int, *extra: str) -> list[str]:
    return [
        "run", "--method", "ga", "--benchmark", "tofu", "--data", str(data), "--split", SPLIT,
        "--model", str(model), "--device", "cpu", "--out", str(out),
        *FAST, *SGD, "train.max_steps=3", f"train.batch_size={batch_size}", *extra,
    ]  # fmt: skip


def env(**extra: str) -> dict[str, str]:
    e = subprocess_env()
    e["PYTHONPATH"] = os.pathsep.join([str(TRACE_HOOK), e["PYTHONPATH"]])
    return {**e, **extra}


def traced(folder: Path) -> dict[str, list[str]]:
    """RANK → the files its processes wrote (``x``: the launcher)."""
    writes: dict[str, list[str]] = {}
    for log in folder.glob("writes-*.txt"):
        rank = log.name.split("-")[1]
        writes.setdefault(rank, []).extend(log.read_text().splitlines())
    return writes


def below(paths: list[str], root: Path) -> set[str]:
    """The paths under ``root``'s parent that belong to ``root`` (OUT, .OUT.lock, .OUT.new-*)."""
    name = root.name
    return {
        p
        for p in paths
        if Path(p).parent == root.parent
        and Path(p).name.lstrip(".").startswith(name)
        or Path(p).is_relative_to(root)
    }


def test_two_processes_through_the_cli_match_one_process_and_write_each_file_once(files, tmp_path):
    data, model = files
    trace = tmp_path / "trace"
    trace.mkdir()
    out = tmp_path / "runs" / "ddp"
    started = time.perf_counter()
    ddp = subprocess.run(
        [*LAUNCH, "-m", "unlearnkit.cli", *run_argv(data, model, out, 2)],
        env=env(UNLEARNKIT_WRITE_TRACE=str(trace)),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    one = tmp_path / "runs" / "one"
    single = subprocess.run(
        [sys.executable, "-m", "unlearnkit.cli", *run_argv(data, model, one, 4)],
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert single.returncode == 0, single.stderr[-3000:]
    print(f"2-process run + 1-process run: {time.perf_counter() - started:.1f} s")

    got = json.loads((out / "metrics.json").read_text())
    want = json.loads((one / "metrics.json").read_text())
    assert got["train"]["world_size"] == 2 and want["train"]["world_size"] == 1
    assert got["train"]["rank_seeds"] == [0, 0] and want["train"]["rank_seeds"] == [0]
    assert got["train"]["effective_batch_size"] == want["train"]["effective_batch_size"] == 4
    assert got["metrics"] == pytest.approx(want["metrics"], rel=REL, abs=ABS)
    assert set(got["train"]) == set(want["train"])
    for key in set(got["train"]) - PER_LAUNCH:
        assert_same(got["train"][key], want["train"][key], key)
    losses = [[h["loss"] for h in r["train"]["log_history"] if "loss" in h] for r in (got, want)]
    assert len(losses[0]) == 3 and losses[0] == pytest.approx(losses[1], rel=REL, abs=ABS)
    rest = set(got) - {"train", "metrics", "eval_seconds"}
    assert rest == set(want) - {"train", "metrics", "eval_seconds"}
    assert_same({k: got[k] for k in rest}, {k: want[k] for k in rest}, "metrics.json")
    # Only rank 0 printed the run (its metrics and where it went).
    assert ddp.stdout.count("run written to") == 1

    writes = traced(trace)
    mine = {rank: below(paths, out) for rank, paths in writes.items()}
    assert str(out / "metrics.json") in mine["0"]  # the trace sees the run's files
    assert str(out.parent / f".{out.name}.lock") in mine["0"]  # rank 0 took the lock
    assert mine.get("1", set()) == set(), sorted(mine["1"])  # rank 1 wrote nothing of the run
    assert mine.get("x", set()) == set()
    print("rank 1 wrote:", sorted(set(writes.get("1", []))))


def assert_same(got, want, where: str) -> None:
    """Equal, numbers to the DDP tolerance, through nested dicts and lists."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), where
        for key in want:
            assert_same(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{where}[{i}]")
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=REL, abs=ABS), where
    else:
        assert got == want, where


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_training(out: Path, procs: list[subprocess.Popen], limit: float = 120) -> None:
    """Until rank 0 has logged a training step (both ranks are in the training loop)."""
    log = out / "train_log.jsonl"
    deadline = time.monotonic() + limit
    while not (log.is_file() and log.read_text().strip()):
        assert time.monotonic() < deadline, "training did not start"
        for p in procs:
            assert p.poll() is None, p.communicate()[1][-3000:]
        time.sleep(0.2)


LONG = ["train.max_steps=100000", "train.epochs=1000"]
BOUND = 60  # seconds from the death of rank 1 to the exit of the survivor


@pytest.mark.slow
@pytest.mark.multiprocess
def test_a_dying_rank_stops_the_other_with_one_line_without_an_agent(files, tmp_path):
    """Two processes started as a scheduler would (srun: env:// only, no launcher watching)."""
    data, model = files
    out = tmp_path / "run"
    port = str(free_port())
    procs = []
    for rank in (0, 1):
        e = env(
            WORLD_SIZE="2",
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            LOCAL_WORLD_SIZE="2",
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=port,
        )
        argv = [sys.executable, "-m", "unlearnkit.cli", *run_argv(data, model, out, 2, *LONG)]
        procs.append(
            subprocess.Popen(argv, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    try:
        wait_for_training(out, procs)
        procs[1].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        _, err = procs[0].communicate(timeout=BOUND)
        took = time.monotonic() - killed
    finally:
        for p in procs:
            p.kill()
    print(f"rank 0 exited {took:.1f} s after rank 1 died")
    assert procs[0].returncode == 2, err[-3000:]
    assert "Traceback" not in err
    assert [m for m in messages(err) if "error" in m.lower()] == [messages(err)[-1]], err[-3000:]
    assert messages(err)[-1].startswith("unlearn run: error: another process of this multi-process")
    print(messages(err)[-1])
    assert not out.exists()  # the run folder it had made, with no checkpoint, is gone


@pytest.mark.slow
@pytest.mark.multiprocess
def test_a_dying_rank_ends_the_launch_with_one_line_from_the_other(files, tmp_path):
    """Under `accelerate launch` (torchrun's agent watches the processes)."""
    data, model = files
    out = tmp_path / "run"
    launcher = subprocess.Popen(
        [*LAUNCH, "-m", "unlearnkit.cli", *run_argv(data, model, out, 2, *LONG)],
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_training(out, [launcher])
        (rank1,) = [p for p in _children(launcher.pid) if _environ(p).get("RANK") == "1"]
        os.kill(rank1, signal.SIGKILL)
        killed = time.monotonic()
        _, err = launcher.communicate(timeout=BOUND)
        took = time.monotonic() - killed
    finally:
        launcher.kill()
    print(f"the launch ended {took:.1f} s after rank 1 died")
    assert launcher.returncode != 0
    ours = [m for m in messages(err) if m.startswith("unlearn run:")]
    assert len(ours) == 1, err[-3000:]
    print(ours[0])


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid``."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").iterdir():
            kids = (task / "children").read_text().split()
            found += map(int, kids)
            todo += map(int, kids)
    return found


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)
