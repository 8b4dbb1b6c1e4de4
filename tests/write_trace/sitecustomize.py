"""Test instrumentation for ``tests/test_cli_ddp.py``, imported at start-up by every Python process
that has this folder on ``PYTHONPATH``: when ``UNLEARNKIT_WRITE_TRACE`` names a folder, every file
the process creates or opens for writing, and every rename target, is appended to
``TRACE/writes-RANK-PID.txt`` (``RANK`` as the launcher set it, ``x`` for the launcher itself)."""

import builtins
import io
import os

_folder = os.environ.get("UNLEARNKIT_WRITE_TRACE")
if _folder:
    _log = os.path.join(_folder, f"writes-{os.environ.get('RANK', 'x')}-{os.getpid()}.txt")
    _open, _os_open, _replace, _rename = io.open, os.open, os.replace, os.rename
    _WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT

    def _note(path) -> None:
        if isinstance(path, int):
            return
        with _open(_log, "a", encoding="utf-8") as f:
            f.write(os.path.abspath(os.fsdecode(path)) + "\n")

    def _traced_open(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+"):
            _note(file)
        return _open(file, mode, *args, **kwargs)

    def _traced_os_open(path, flags, *args, **kwargs):
        if flags & _WRITE_FLAGS:
            _note(path)
        return _os_open(path, flags, *args, **kwargs)

    def _traced_replace(src, dst, *args, **kwargs):
        _note(dst)
        return _replace(src, dst, *args, **kwargs)

    def _traced_rename(src, dst, *args, **kwargs):
        _note(dst)
        return _rename(src, dst, *args, **kwargs)

    builtins.open = io.open = _traced_open
    os.open, os.replace, os.rename = _traced_os_open, _traced_replace, _traced_rename
