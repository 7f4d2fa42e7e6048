"""``run_in_process`` (and ``run_main``) answer as a child process would, and
leave nothing behind.

Most command-line tests run Alembic in the test process (tests/in_process.py);
these pin what that must reproduce of a real process: exit statuses, captured
output, the environment and working directory, fresh project modules, and
logging, warnings, masking and the alarm put back afterwards.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest

from migrationkit import masking
from tests.in_process import run_in_process, run_main


def script(folder: Path, body: str, name: str = "script.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return path


def run(folder: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_in_process(argv, cwd=folder, env={"PATH": os.environ["PATH"], **env})


@pytest.mark.parametrize(
    ("body", "status", "stderr"),
    [
        ("print('out é'); print('err', file=sys.stderr)", 0, "err\n"),
        ("sys.exit(-1)", 255, ""),
        ("sys.exit(3)", 3, ""),
        ("sys.exit('goodbye')", 1, "goodbye\n"),
    ],
)
def test_exit_status_and_output_are_a_processs(
    tmp_path: Path, body: str, status: int, stderr: str
) -> None:
    script(tmp_path, f"import sys\n{body}\n")
    real = subprocess.run(
        [sys.executable, "script.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    here = run(tmp_path, "script.py")
    assert (here.returncode, here.stdout, here.stderr) == (
        real.returncode,
        real.stdout,
        real.stderr,
    )
    assert (here.returncode, here.stderr) == (status, stderr)


def test_an_exception_is_a_traceback_and_status_1(tmp_path: Path) -> None:
    script(tmp_path, "raise ValueError('boom')\n")
    result = run(tmp_path, "script.py")
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.endswith("ValueError: boom\n")


def test_environment_and_directory_are_the_childs_then_put_back(
    tmp_path: Path,
) -> None:
    before = (dict(os.environ), Path.cwd(), list(sys.path), list(sys.argv))
    script(
        tmp_path,
        """
        import os, sys
        print(os.environ.get("ONLY_HERE"), os.environ.get("HOME"), os.getcwd())
        print(sys.argv[1:])
        """,
    )
    result = run(tmp_path, "script.py", "a", "b", ONLY_HERE="yes")
    assert result.stdout.splitlines() == [f"yes None {tmp_path}", "['a', 'b']"]
    assert (dict(os.environ), Path.cwd(), list(sys.path), list(sys.argv)) == before


def test_project_modules_are_imported_afresh_and_dropped(tmp_path: Path) -> None:
    """An edited module is seen by the next call; another project's module of the
    same name is never taken for this one's (alembic.ini's relative
    ``prepend_sys_path = .`` included)."""
    show = """
        import sys
        sys.path.insert(0, ".")
        import models
        print(models.VALUE)
    """
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, value in ((first, 1), (second, 2)):
        script(folder, show)
        script(folder / "models", f"VALUE = {value}\n", name="__init__.py")
    assert run(first, "script.py").stdout == "1\n"
    assert run(second, "script.py").stdout == "2\n"
    (first / "models" / "__init__.py").write_text("VALUE = 'edited, same second'\n")
    assert run(first, "script.py").stdout == "edited, same second\n"
    left = [
        name
        for name, module in list(sys.modules.items())
        if str(getattr(module, "__file__", None)).startswith(str(tmp_path))
    ]
    assert left == []


def test_a_module_this_process_imported_does_not_shadow_the_projects(
    tmp_path: Path,
) -> None:
    script(tmp_path, "import textwrap\nprint(textwrap.VALUE)\n")
    script(tmp_path, "VALUE = 'the project'\n", name="textwrap.py")
    assert run(tmp_path, "script.py").stdout == "the project\n"
    assert sys.modules["textwrap"] is textwrap
    assert not hasattr(textwrap, "VALUE")


def test_logging_goes_to_the_captured_stderr_and_comes_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    script(
        tmp_path,
        """
        import logging, sys
        logging.basicConfig(level=logging.INFO, force=True,
                            format="%(levelname)s %(message)s")
        logging.getLogger("migrationkit").disabled = True
        logging.getLogger("made.here").info("hello")
        """,
    )
    root = (logging.root.level, list(logging.root.handlers))
    result = run(tmp_path, "script.py")
    assert result.stderr == "INFO hello\n"
    assert (logging.root.level, list(logging.root.handlers)) == root
    assert not logging.getLogger("migrationkit").disabled
    with caplog.at_level(logging.INFO):
        logging.getLogger("migrationkit").info("still captured")
    assert "still captured" in caplog.text


def test_warnings_are_printed_as_a_process_prints_them(tmp_path: Path) -> None:
    script(tmp_path, "import warnings\nwarnings.warn('careful', UserWarning)\n")
    result = run(tmp_path, "script.py")
    assert result.returncode == 0
    assert "UserWarning: careful" in result.stderr


def test_remembered_passwords_are_the_childs_own(tmp_path: Path) -> None:
    """A child does not know the passwords this process remembered to mask, so a
    leak in its output shows; this process's list comes back after."""
    masking.remember("in-process-Secret-42")
    script(
        tmp_path,
        """
        from migrationkit.masking import mask_secrets
        print(mask_secrets("in-process-Secret-42"))
        """,
    )
    assert run(tmp_path, "script.py").stdout == "in-process-Secret-42\n"
    assert masking.mask_secrets("in-process-Secret-42") == masking.MASK


def test_alembic_writes_to_the_captured_stdout(tmp_path: Path) -> None:
    """Alembic's Config took ``sys.stdout`` as a default when it was imported."""
    result = run(tmp_path, "-m", "alembic", "list_templates")
    assert result.returncode == 0, result.stderr
    assert "generic" in result.stdout


def test_a_run_past_its_timeout_is_stopped(tmp_path: Path) -> None:
    script(tmp_path, "import time\nprint('started', flush=True)\ntime.sleep(30)\n")
    handler = signal.getsignal(signal.SIGALRM)
    with pytest.raises(subprocess.TimeoutExpired) as raised:
        run_in_process(["script.py"], cwd=tmp_path, env=dict(os.environ), timeout=0.3)
    assert raised.value.output == "started\n"
    assert signal.getsignal(signal.SIGALRM) is handler
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_pytest_plugin_package_runs_with_dash_m(tmp_path: Path) -> None:
    """migrationkit is a pytest plugin: its modules come through pytest's import
    hook, which runpy cannot use; a child has no such hook."""
    result = run(tmp_path, "-m", "migrationkit", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:")


def test_run_main_gives_a_processs_status_output_and_logging_then_puts_back(
    tmp_path: Path,
) -> None:
    """An entry point's ``basicConfig`` (no ``force``) takes effect, as in a new
    process, and its log line is on the captured stderr; afterwards the
    environment, directory, logging and ``sys.path`` are this process's again."""

    def main(argv: Sequence[str]) -> int:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
        logging.getLogger("made.by.main").info("hello %s", os.environ["ONLY_HERE"])
        sys.path.insert(0, "added-by-main")
        print(Path.cwd(), *argv)
        if argv == ["fail"]:
            sys.exit(-1)
        return 0

    before = (dict(os.environ), Path.cwd(), list(sys.path))
    root = (logging.root.level, list(logging.root.handlers))
    env = {"PATH": os.environ["PATH"], "ONLY_HERE": "yes"}
    result = run_main(main, ["a"], cwd=tmp_path, env=env, program=("prog",))
    assert (result.args, result.returncode) == (["prog", "a"], 0)
    assert (result.stdout, result.stderr) == (f"{tmp_path} a\n", "INFO hello yes\n")
    assert run_main(main, ["fail"], cwd=tmp_path, env=env).returncode == 255
    assert (dict(os.environ), Path.cwd(), list(sys.path)) == before
    assert (logging.root.level, list(logging.root.handlers)) == root
    assert logging.getLogger("made.by.main").level == logging.NOTSET


def test_run_main_lets_an_exception_out(tmp_path: Path) -> None:
    def main(argv: Sequence[str]) -> int:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_main(main, [], cwd=tmp_path, env={})
