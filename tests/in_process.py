"""Run ``python -m <module>`` or ``python <script>`` inside the test's own process.

A child Python costs about 0.75 s, nearly all of it importing SQLAlchemy and
Alembic, which the test process has already imported. ``run_in_process`` runs
the same argv here and answers with what ``subprocess.run`` would have given:
the exit status (``sys.exit(-1)`` is 255, an uncaught exception is a traceback
on stderr and 1), stdout and stderr as text (logging configured by the command,
alembic.ini's ``fileConfig`` among it, writes into the captured stderr), in the
project's directory and with the child's environment.

What a fresh process would not share with this one is set aside for the call and
put back after it, exactly: ``os.environ``, the working directory, ``sys.argv``
and ``sys.path``, logging's configuration, the warnings filters, migrationkit's
process-wide list of passwords to mask, and every module the project directory
provides (``models``, ``service``, ...). The project's modules are imported
afresh on each call, since tests edit models and revisions between calls, and
dropped again afterwards; library modules stay imported, that is the saving.

``run_main`` is the lighter sibling for an entry point already imported here
(``main.main``, migrationkit's ``main``): it calls ``main(argv)`` with the same
environment, working directory, captured output and logging put back, but
leaves imports, warnings and masking as they are. ``process_state_restored``
is the part both share with Alembic commands run on a ``Config``: logging and
``sys.path`` as a fresh process has them, undone afterwards.

Tests about the process itself (signals, several processes at once, the exact
bytes a real process writes) use ``Project.run`` / ``Project.alembic_process``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import json
import logging
import os
import runpy
import signal
import subprocess
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import alembic.config

from migrationkit import masking


def run_in_process(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``[sys.executable, *argv]`` run here: ``argv`` is ``-m module ...`` or
    ``script.py ...``. Raises only what ``subprocess.run`` would: TimeoutExpired
    after ``timeout`` seconds (and KeyboardInterrupt)."""
    stdout, stderr = _capture(), _capture()
    try:
        returncode = _run_here(
            argv, cwd=cwd, env=env, timeout=timeout, out=(stdout, stderr)
        )
    except _TimedOut:
        raise subprocess.TimeoutExpired(
            [sys.executable, *argv], timeout, _text(stdout), _text(stderr)
        ) from None
    return subprocess.CompletedProcess(
        [sys.executable, *argv], returncode, _text(stdout), _text(stderr)
    )


def _run_here(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    out: tuple[io.TextIOWrapper, io.TextIOWrapper],
) -> int:
    with (
        _environment(env),
        _working_directory(cwd),
        _project_modules(cwd),
        _search_path(cwd, env),
        _plain_imports(),
        _argv(),
        _logging_configuration(),
        _fresh_warnings(),
        _fresh_masking(),
        _output_to(*out),
        _deadline(timeout),  # innermost: the rest is put back whatever happens
    ):
        return _run(argv)


EntryPoint = Callable[[Sequence[str]], int]


def run_main(
    main: EntryPoint,
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    program: Sequence[str] = ("main",),
) -> subprocess.CompletedProcess[str]:
    """``main(argv)`` as a process would run it; never raises for its failures.

    Returns a ``subprocess.CompletedProcess[str]``: the exit status (``main``'s
    return value, or ``SystemExit``'s code as argparse raises it for ``--help``
    and usage errors) and what it wrote on stdout and stderr, its log lines
    included. An exception ``main`` lets out propagates, as a traceback would
    end a process. ``main`` and what it imported stay imported, so a module a
    test edits is not read again: that needs ``run_in_process``.
    """
    stdout, stderr = _capture(), _capture()
    with (
        _environment(env),
        _working_directory(cwd),
        process_state_restored(),
        _output_to(stdout, stderr),
    ):
        try:
            status = _exit_status(main(list(argv)))
        except SystemExit as exit_:
            status = _exit_status(exit_.code)
    return subprocess.CompletedProcess(
        [*program, *argv], status, _text(stdout), _text(stderr)
    )


@contextlib.contextmanager
def process_state_restored() -> Iterator[None]:
    """Let code configure logging and ``sys.path`` as if it owned the process,
    then undo it.

    Entry points call ``logging.basicConfig`` and the project's env.py calls
    ``fileConfig``; both only make sense in a process of their own. Inside, the
    root logger starts as a new process's does (no handlers, level WARNING), so
    ``basicConfig`` takes effect and writes to the ``sys.stderr`` of the moment;
    afterwards pytest's handlers, every level and every filter are back. Alembic
    prepends alembic.ini's ``prepend_sys_path`` on every command; that goes too.
    """
    with _search_path_restored(), _logging_configuration():
        root = logging.getLogger()
        saved_handlers = list(root.handlers)
        root.handlers = []
        root.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for handler in root.handlers:
                if handler not in saved_handlers:
                    handler.close()


@contextlib.contextmanager
def _output_to(stdout: TextIO, stderr: TextIO) -> Iterator[None]:
    """``sys.stdout`` / ``sys.stderr`` are the captures, Alembic's among them."""
    with (
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
        _alembic_config_stdout(stdout),
    ):
        yield


class _TimedOut(BaseException):
    """Raised into the run when its time is up; a BaseException, so that no
    ``except Exception`` in the code under test can take it for its own error."""


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """The child's ``timeout``: SIGALRM, in the main thread (where tests run)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise _TimedOut

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _run(argv: Sequence[str]) -> int:
    """Run ``argv`` as the interpreter would; the exit status it would give."""
    try:
        if argv[0] == "-m":
            sys.argv[:] = ["-m", *argv[2:]]
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv[:] = list(argv)
            runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as exit_:
        return _exit_status(exit_.code)
    except Exception:  # noqa: BLE001 - a process prints any exception and exits 1
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return 0


def _exit_status(code: object) -> int:
    """What ``sys.exit(code)`` leaves as a process's exit status."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code % 256  # sys.exit(-1) is 255
    print(code, file=sys.stderr)
    return 1


def _capture() -> io.TextIOWrapper:
    """A text stream like a child's pipe: UTF-8, not a terminal."""
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace")


def _text(stream: io.TextIOWrapper) -> str:
    """The stream's text decoded as ``subprocess.run(text=True)`` decodes it."""
    stream.flush()
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    text = buffer.getvalue().decode()
    return text.replace("\r\n", "\n").replace("\r", "\n")


@contextlib.contextmanager
def _alembic_config_stdout(stream: TextIO) -> Iterator[None]:
    """Alembic's ``Config(stdout=sys.stdout)`` took its default when this process
    imported it; in a child that is the pipe, so here it is ``stream``."""
    init = alembic.config.Config.__init__
    saved = init.__defaults__
    assert saved is not None
    names = init.__code__.co_varnames[: init.__code__.co_argcount]
    at = names.index("stdout") - (len(names) - len(saved))
    init.__defaults__ = (*saved[:at], stream, *saved[at + 1 :])
    try:
        yield
    finally:
        init.__defaults__ = saved


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    saved = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(saved)


@contextlib.contextmanager
def _argv() -> Iterator[None]:
    saved = list(sys.argv)
    try:
        yield
    finally:
        sys.argv[:] = saved


_PATH_VARIABLES = ("PYTHONPATH", "PYTHONSAFEPATH", "PYTHONHOME")


@functools.cache
def _interpreter_path(pythonpath: str | None) -> tuple[str, ...]:
    """``sys.path`` of a fresh interpreter, less its first entry (the script's
    folder, or the working directory under ``-m``)."""
    env = {k: v for k, v in os.environ.items() if k not in _PATH_VARIABLES}
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    shown = subprocess.run(
        [sys.executable, "-c", "import json, sys; print(json.dumps(sys.path[1:]))"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return tuple(json.loads(shown.stdout))


@contextlib.contextmanager
def _search_path(cwd: Path, env: Mapping[str, str]) -> Iterator[None]:
    """The child's ``sys.path`` and path finders: not the entries pytest added
    (the repository root among them, which would let a project import the
    repository's models), nor finders an earlier call left."""
    with _search_path_restored():
        # A finder for a relative entry (alembic.ini's ``prepend_sys_path = .``)
        # holds the working directory it was made in: an earlier call's project.
        for entry in [e for e in sys.path_importer_cache if not Path(e).is_absolute()]:
            del sys.path_importer_cache[entry]
        importlib.invalidate_caches()  # files the test wrote since the last call
        sys.path[:] = [str(cwd), *_interpreter_path(env.get("PYTHONPATH"))]
        yield


@contextlib.contextmanager
def _search_path_restored() -> Iterator[None]:
    """``sys.path`` and its finders exactly as they were, afterwards."""
    saved = list(sys.path)
    saved_finders = dict(sys.path_importer_cache)
    try:
        yield
    finally:
        sys.path[:] = saved
        sys.path_importer_cache.clear()
        sys.path_importer_cache.update(saved_finders)


@contextlib.contextmanager
def _plain_imports() -> Iterator[None]:
    """Without pytest's assertion-rewriting import hook, as in a child: runpy
    cannot run ``-m`` through it (it has no ``get_code``)."""
    saved = list(sys.meta_path)
    sys.meta_path[:] = [
        finder for finder in saved if not type(finder).__module__.startswith("_pytest.")
    ]
    try:
        yield
    finally:
        sys.meta_path[:] = saved


def _local_names(folder: Path) -> set[str]:
    """Top-level modules ``folder`` provides: its ``*.py`` and its packages."""
    return {
        entry.stem if entry.suffix == ".py" else entry.name
        for entry in folder.iterdir()
        if (entry.suffix == ".py" and entry.is_file())
        or (entry / "__init__.py").is_file()
    }


@contextlib.contextmanager
def _project_modules(folder: Path) -> Iterator[None]:
    """Set aside the modules named like the project's, and drop what the call
    imported under those names: each call imports the project's files afresh."""
    local = _local_names(folder)

    def ours(name: str) -> bool:
        return name.partition(".")[0] in local

    hidden = {name: module for name, module in sys.modules.items() if ours(name)}
    for name in hidden:
        del sys.modules[name]
    try:
        yield
    finally:
        for name in [name for name in sys.modules if ours(name)]:
            del sys.modules[name]
        sys.modules.update(hidden)


@contextlib.contextmanager
def _logging_configuration() -> Iterator[None]:
    """Put back every logger's level, handlers, filters and switches.

    ``logging.config.fileConfig`` replaces the root's handlers (pytest's capture
    handlers among them) and may disable loggers; loggers made during the call
    go back to a new logger's defaults.
    """
    manager = logging.Logger.manager
    loggers: dict[str, logging.Logger] = {
        name: logger
        for name, logger in manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    saved = {
        name: _logger_state(logger)
        for name, logger in [("", logging.root), *loggers.items()]
    }
    registry: Any = logging._handlers  # type: ignore[attr-defined]
    handler_list: list[Any] = logging._handlerList  # type: ignore[attr-defined]
    saved_registry = dict(registry)
    saved_list = list(handler_list)
    disabled = logging.root.manager.disable
    try:
        yield
    finally:
        logging.disable(disabled)
        registry.clear()
        registry.update(saved_registry)
        handler_list[:] = saved_list
        for name, logger in list(manager.loggerDict.items()):
            if isinstance(logger, logging.Logger) and name not in saved:
                _restore_logger(logger, (logging.NOTSET, [], [], True, False))
        for name, state in saved.items():
            _restore_logger(logging.root if name == "" else loggers[name], state)


_LoggerState = tuple[int, list[logging.Handler], list[Any], bool, bool]


def _logger_state(logger: logging.Logger) -> _LoggerState:
    return (
        logger.level,
        list(logger.handlers),
        list(logger.filters),
        logger.propagate,
        logger.disabled,
    )


def _restore_logger(logger: logging.Logger, state: _LoggerState) -> None:
    level, handlers, filters, propagate, disabled = state
    logger.setLevel(level)
    logger.handlers[:] = handlers
    logger.filters[:] = filters
    logger.propagate = propagate
    logger.disabled = disabled


@contextlib.contextmanager
def _fresh_warnings() -> Iterator[None]:
    """A fresh interpreter's warning filters, shown on (captured) stderr: not
    pytest's recording, nor its ``-W`` filters."""
    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.filterwarnings(
            "default", category=DeprecationWarning, module="__main__"
        )
        for category in (
            DeprecationWarning,
            PendingDeprecationWarning,
            ImportWarning,
            ResourceWarning,
        ):
            warnings.filterwarnings("ignore", category=category)
        warnings.showwarning = _show_warning
        yield


def _show_warning(  # noqa: PLR0917 - warnings.showwarning's own signature
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    stream = sys.stderr if file is None else file
    stream.write(warnings.formatwarning(message, category, filename, lineno, line))


@contextlib.contextmanager
def _fresh_masking() -> Iterator[None]:
    """A child starts with no remembered passwords; this process's come back."""
    remembered: set[str] = masking._remembered
    saved = (set(remembered), masking._remembered_pattern)
    remembered.clear()
    masking._remembered_pattern = None
    try:
        yield
    finally:
        remembered.clear()
        remembered.update(saved[0])
        masking._remembered_pattern = saved[1]
