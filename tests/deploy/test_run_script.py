"""`make run`'s script as a person at a terminal uses it: the demo accounts are the last lines printed
once the server answers, and Ctrl-C stops everything with a message that does not read as a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.deploy.conftest import free_port, fresh_clone, user_env, wait_for

pytestmark = pytest.mark.deploy

ACCOUNTS = "Demo accounts (all with the same password):\n  nurse       nurse, Oncology day unit\n  password: pw-0\n"


def start(clone: Path, log: Path) -> subprocess.Popen:
    """Start scripts/run.sh in its own process group, with Ctrl-C (SIGINT) handled as at a terminal."""
    env = user_env("redis://127.0.0.1:1/0")  # no Redis: tasks in-process, no workers to wait for
    env.update(PORT=str(free_port()), MLLP_PORT=str(free_port()))
    return subprocess.Popen(["bash", "scripts/run.sh"], cwd=clone, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def test_accounts_last_and_ctrl_c_is_not_a_crash(tmp_path):
    clone, _ = fresh_clone(tmp_path)
    if not (clone / ".venv").exists():
        pytest.skip("needs this checkout's virtualenv")
    (clone / "var").mkdir()
    (clone / "var" / "demo-accounts.txt").write_text(ACCOUNTS)
    log = tmp_path / "run.log"
    script = start(clone, log)
    try:
        wait_for(lambda: "password: pw-0" in log.read_text(), 90, "run.sh printed no demo accounts")
        time.sleep(1)
        assert log.read_text().endswith(ACCOUNTS), "the accounts are the last lines on screen"
        assert "Performing system checks" not in log.read_text(), "runserver's own output goes to var/log/web.log"
        os.killpg(script.pid, signal.SIGINT)  # Ctrl-C reaches the terminal's whole process group
        assert script.wait(30) == 130
    finally:
        if script.poll() is None:
            os.killpg(script.pid, signal.SIGKILL)
    printed = log.read_text()
    assert "Stopping NeutroWatch" in printed
    assert "ended by itself" not in printed and "A NeutroWatch process stopped" not in printed
