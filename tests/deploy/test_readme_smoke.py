"""The README's quick start, as a new user follows it: a fresh clone, `make run`, log in, use every page.

`make run` runs on its embedded default database (SQLite in the clone) with a Redis of its own, so
its workers and beat start too. Every page a nurse, an oncologist and an administrator can reach by
following links is opened (every demo patient's page, each form, history, the admin) and must be a
200, with no server error or traceback in any log. Then every process it started is stopped.
"""
from __future__ import annotations

import re
from datetime import UTC
from pathlib import Path

import pytest

from tests.deploy.conftest import (
    SERVER_ERROR_IN_LOG,
    Browser,
    crawl,
    free_port,
    fresh_clone,
    link_pattern,
    user_env,
    wait_for,
)

pytestmark = pytest.mark.deploy

EVERY_PATIENT = {"/patients/N/"}
NURSE_PAGES = {
    "/", "/alerts/", "/import/", "/patients/new/", "/patients/N/", "/patients/N/edit/", "/patients/N/history/",
    "/patients/N/counts/new/", "/patients/N/gcsf/new/", "/patients/N/temperatures/new/", "/counts/N/edit/",
    "/patients/N/cycle-summary.csv",
}
ONCOLOGIST_PAGES = NURSE_PAGES | {"/patients/N/courses/new/", "/cycles/N/delay/"}
ADMIN_PAGES = {"/admin/", "/admin/monitoring/patient/", "/admin/monitoring/team/", "/admin/monitoring/user/"}






def server_errors(*logs: Path) -> list[str]:
    """Return the log lines with a 5xx or a traceback (a 503 from /healthz while starting up is expected)."""
    lines = []
    for log in logs:
        lines += [f"{log.name}: {line}" for line in log.read_text(errors="replace").splitlines()
                  if SERVER_ERROR_IN_LOG.search(line) and "/healthz" not in line]
    return lines


def app_pages(link: str) -> bool:
    return not link.startswith(("/admin/", "/accounts/", "/api/"))


def admin_pages(link: str) -> bool:
    return link.startswith("/admin/") and not re.search(r"logout|delete|password|/history/", link)


def use_every_page(browser: Browser, username: str, password: str, expected: set[str]) -> dict[str, int]:
    browser.login(username, password)
    status, ward, _ = browser.get("/")
    assert status == 200
    visited = crawl(browser, ["/", "/alerts/", "/import/", "/patients/new/"], app_pages, every=EVERY_PATIENT)
    patients = set(re.findall(r'data-patient="(\d+)"', ward))
    assert patients, f"{username}'s ward lists no patients"
    assert {f"/patients/{pk}/" for pk in patients} <= set(visited), f"{username}: a demo patient's page was missed"
    missing = expected - {link_pattern(path) for path in visited}
    assert not missing, f"{username} never reached {sorted(missing)}"
    return visited


ORU_FOR_A_DEMO_PATIENT = "\r".join([
    "MSH|^~\\&|LAB|HOSP|NW|HOSP|{when}||ORU^R01|SMOKE1|P|2.5.1",
    "PID|1||DEMO-0001^^^HOSP^MR",
    "OBR|1||SMOKE-ACC-1||||{when}",
    "OBX|1|NM|751-8^Neutrophils^LN||0.42|10*3/uL|||||F",
]) + "\r"


def send_mllp(port: int, message: str) -> str:
    """Send one message in an MLLP frame (<VT> message <FS><CR>) and return the ACK's text."""
    import socket
    from datetime import datetime, timedelta

    when = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y%m%d%H%M+0000")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(b"\x0b" + message.format(when=when).encode() + b"\x1c\r")
        answer = b""
        while not answer.endswith(b"\x1c\r"):
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.decode(errors="replace")


def first_demo_patient_page(browser) -> str:
    """Return the path of DEMO-0001's page, found through the ward's search."""
    ward = browser.get("/?q=DEMO-0001")[1]
    return re.search(r'href="(/patients/\d+/)"', ward).group(1)


def test_make_run_from_a_fresh_clone_serves_every_page_to_every_role(tmp_path, private_redis, processes):
    clone, make_args = fresh_clone(tmp_path)
    port, mllp_port = free_port(), free_port()
    output = tmp_path / "make-run.log"
    processes.start(["make", *make_args, "run", f"PORT={port}", f"MLLP_PORT={mllp_port}"], cwd=clone,
                    env=user_env(private_redis), log=output)
    browser = Browser(port)

    def serving() -> bool:
        try:
            return browser.request("GET", "/accounts/login/")[0] == 200
        except OSError:
            return False

    wait_for(serving, 600, f"make run did not serve the log-in page (see {output})")
    # The accounts are printed last, once the server answers: give the script a moment to print them.
    wait_for(lambda: re.search(r"password: (\S+)", output.read_text()), 30, "make run printed no demo password")
    printed = re.search(r"password: (\S+)", output.read_text())
    # Workers and beat are up once every heartbeat is in: then no page may show the banner.
    wait_for(lambda: browser.request("GET", "/healthz")[0] == 200, 180, "workers and beat did not report in")

    visited = {}
    for username, expected in (("nurse", NURSE_PAGES), ("oncologist", ONCOLOGIST_PAGES), ("admin", ONCOLOGIST_PAGES)):
        pages = use_every_page(browser, username, printed.group(1), expected)
        visited.update({f"{username} {path}": status for path, status in pages.items()})
        assert 'id="background-banner"' not in browser.get("/")[1], "background processing reported as stopped"
    admin = crawl(browser, ["/admin/"], admin_pages, per_pattern=1, limit=200)
    visited.update({f"admin {path}": status for path, status in admin.items()})
    missing = ADMIN_PAGES - set(admin)
    assert not missing, f"the administrator could not reach {sorted(missing)}"
    assert "have permission to view or edit anything" not in browser.get("/admin/")[1]

    # The laboratory's HL7 v2 feed: make run's MLLP listener stores a result and acknowledges it.
    assert "MSA|AA|SMOKE1" in send_mllp(mllp_port, ORU_FOR_A_DEMO_PATIENT)
    page = browser.get(first_demo_patient_page(browser))[1]
    assert "0.42" in page and "MLLP" in page.upper()

    failed = {page: status for page, status in visited.items() if status != 200}
    assert not failed, f"pages that were not 200: {failed}"
    assert len(visited) > 60
    assert not server_errors(output, *sorted((clone / "var" / "log").glob("*.log")))
