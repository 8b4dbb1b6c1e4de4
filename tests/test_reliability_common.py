"""Shared helpers of the reliability tests: a toy TOFU folder, tiny model folders, and the `unlearn`
command run in-process (stderr captured at the file-descriptor level, as a terminal sees it) or
as a real subprocess.

The other ``test_reliability_*`` files import from here; the tests below check the helpers.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from test_attacks_common import single_thread, write_tofu_eval
from test_methods_common import (  # noqa: F401 - one_thread is an autouse fixture
    one_thread,
    tiny_model,
    tiny_tokenizer,
    trained_model,
)
from unlearnkit.cli import main

SPLIT = "forget01"
# Small enough that a whole run (train, evaluate) takes seconds on one CPU thread.
FAST = [
    "train.batch_size=2",
    "train.max_length=64",
    "train.learning_rate=1e-3",
    "train.lr_scheduler=constant",
    "train.warmup_ratio=0",
    "train.weight_decay=0",
    "eval.max_new_tokens=2",
    "eval.batch_size=16",
]
ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "HF_HUB_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "PYTHONWARNINGS": "ignore::DeprecationWarning,ignore::FutureWarning",
}


def save_model(folder: Path, trained: bool = False) -> Path:
    """A tiny Llama and its tokenizer (chat template, pad and eos tokens) saved as safetensors."""
    with single_thread():
        model = trained_model() if trained else tiny_model()
    model.save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return folder


def write_data(folder: Path) -> Path:
    """Every TOFU file a ``forget01`` run reads (forget, retain, eval sets, holdout)."""
    return write_tofu_eval(folder)


def run_args(data: Path, model: Path, out: Path, *extra: str, method: str = "ga") -> list[str]:
    """``unlearn run`` on the toy data, on CPU, two steps unless ``extra`` says otherwise."""
    return [
        "run",
        "--method",
        method,
        "--benchmark",
        "tofu",
        "--data",
        str(data),
        "--split",
        SPLIT,
        "--model",
        str(model),
        "--device",
        "cpu",
        "--out",
        str(out),
        "train.max_steps=2",
        *FAST,
        *extra,
    ]


def cli(capfd, argv: list) -> tuple[int, str, str]:
    """Run ``unlearn ARGV`` in this process; (status, stdout, stderr).

    Log records go to stderr as in the real command (pytest would otherwise keep them to itself).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        status = main([str(a) for a in argv])
    finally:
        root.removeHandler(handler)
    out, err = capfd.readouterr()
    return status, out, err


def subprocess_env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[1] / "src")
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, **ENV, "PYTHONPATH": path}


def hear_ctrl_c() -> None:
    """In the child before exec: SIGINT as a terminal's foreground process has it. A pytest run
    as a background job of a non-interactive shell (``make test &``) ignores SIGINT, and an
    ignored signal stays ignored across exec, so a Ctrl-C test's child would never hear it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])


def unlearn_process(
    argv: list, prelude: str = "", env: dict | None = None, **kwargs
) -> subprocess.Popen:
    """Start ``unlearn ARGV`` as a real process; ``prelude`` is Python run first (test hooks),
    ``env`` variables set on top of the test environment."""
    code = f"import sys\n{prelude}\nfrom unlearnkit.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, argv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**subprocess_env(), **(env or {})},
        preexec_fn=hear_ctrl_c,
        **kwargs,
    )


def unlearn_subprocess(
    argv: list, prelude: str = "", timeout: float = 120, env: dict | None = None
) -> tuple[int, str, str]:
    proc = unlearn_process(argv, prelude, env)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (to show a folder was left unchanged)."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


def test_cli_helper_reports_a_user_error_on_one_line(capfd, tmp_path):
    status, out, err = cli(capfd, ["report", tmp_path / "missing"])
    assert status == 2 and out == ""
    (line,) = error_lines(err)
    assert line.startswith("unlearn report: error: ") and "is not a folder" in line


def test_snapshot_sees_bytes(tmp_path):
    (tmp_path / "a").write_text("x")
    before = snapshot(tmp_path)
    (tmp_path / "a").write_text("y")
    assert snapshot(tmp_path) != before and snapshot(tmp_path / "none") == {}


def test_a_child_hears_ctrl_c_even_when_pytest_ignores_it():
    """The helper's children get SIGINT back (default handling) though this process ignores it."""
    code = "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            preexec_fn=hear_ctrl_c,
            timeout=60,
        )
        plain = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    assert proc.stdout.strip() == "True" and plain.stdout.strip() == "False"
