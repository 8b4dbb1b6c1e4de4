"""``--threads`` and ``$UNLEARNKIT_THREADS`` set torch's thread count before a command computes."""

from __future__ import annotations

import pytest
import torch

from unlearnkit import cli
from unlearnkit.cli import COMPUTING, build_parser
from unlearnkit.threads import DEFAULT, ENV


@pytest.fixture
def seen(monkeypatch):
    """Run `unlearn eval` with a stand-in that records the thread count it starts with."""
    found: list[int] = []
    monkeypatch.setattr(
        "unlearnkit.commands.eval.run", lambda args: found.append(torch.get_num_threads())
    )
    monkeypatch.delenv(ENV, raising=False)
    before = torch.get_num_threads()
    yield found
    torch.set_num_threads(before)


EVAL = ["eval", "--model", "m", "--out", "o"]


def test_option_sets_the_thread_count(seen):
    torch.set_num_threads(2)
    assert cli.main([*EVAL, "--threads", "1"]) == 0
    assert seen == [1]


def test_environment_variable_sets_it_and_the_option_wins(seen, monkeypatch):
    torch.set_num_threads(2)
    monkeypatch.setenv(ENV, "1")
    assert cli.main(EVAL) == 0
    torch.set_num_threads(1)
    assert cli.main([*EVAL, "--threads", "2"]) == 0
    assert seen == [1, 2]


def test_unset_gives_the_default_unless_omp_num_threads_is_set(seen, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch.set_num_threads(2)
    assert cli.main(EVAL) == 0
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the user's choice, which torch has read
    torch.set_num_threads(2)
    assert cli.main(EVAL) == 0
    assert seen == [DEFAULT, 2]


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--threads", "0"], None, "--threads must be a positive whole number of threads, got '0'"),
        (
            ["--threads", "two"],
            None,
            "--threads must be a positive whole number of threads, got 'two'",
        ),
        ([], "-1", f"{ENV} must be a positive whole number of threads, got '-1'"),
    ],
)
def test_a_bad_value_is_a_one_line_error(seen, monkeypatch, capsys, argv, env, message):
    if env is not None:
        monkeypatch.setenv(ENV, env)
    assert cli.main([*EVAL, *argv]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"unlearn eval: error: {message}"]
    assert seen == []


def test_every_computing_command_takes_the_option():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name, parser in sub.choices.items():
        takes = any("--threads" in a.option_strings for a in parser._actions)
        assert takes == (name in COMPUTING), name
    assert set(COMPUTING) == {"world", "finetune", "eval", "run", "sweep", "attack", "demo"}
