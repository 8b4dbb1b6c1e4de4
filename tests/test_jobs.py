"""unlearnkit.jobs: independent jobs in spawned processes give what a loop gives, logs apart."""

from __future__ import annotations

import sys

import torch

from unlearnkit.jobs import run_jobs


def seeded_sum(seed: int, n: int) -> float:
    """A job whose result depends on its own seeding and on torch's thread count being kept."""
    print(f"job {seed}", file=sys.stderr)
    torch.manual_seed(seed)
    return float(torch.randn(n).sum()) + torch.get_num_threads()


def test_jobs_in_processes_equal_the_loop_and_write_their_logs(tmp_path):
    calls = [(1, 1000), (2, 1000), (3, 10)]
    logs = [tmp_path / "logs" / f"{seed}.log" for seed, _ in calls]
    in_processes = run_jobs(seeded_sum, calls, processes=2, logs=logs)
    assert in_processes == [seeded_sum(*args) for args in calls]
    assert [log.read_text().strip() for log in logs] == ["job 1", "job 2", "job 3"]


def test_one_process_runs_in_this_one(tmp_path):
    seen = []
    assert run_jobs(lambda x: seen.append(x) or x, [(1,), (2,)], processes=1) == [1, 2]
    assert seen == [1, 2]  # a lambda cannot be pickled: it ran here
