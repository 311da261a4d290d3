"""Helpers for tests that run NeutroWatch as a user or an operator would: in subprocesses, over HTTP.

Each test gets its own Redis server on a free port, so its workers never take the test suite's
tasks (or another checkout's), and stops every process it started by process group.
"""
from __future__ import annotations

import html
import http.client
import os
import re
import signal
import socket
import subprocess
import time
from collections import deque
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

# A 5xx in runserver's or gunicorn's access log ('"GET /x HTTP/1.1" 500 123', '"GET /x" 500 123'), or a traceback.
SERVER_ERROR_IN_LOG = re.compile(r'" 5\d\d \d|Traceback \(most recent call last\)')
REPO = Path(__file__).resolve().parents[2]



def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ProcessGroups:
    """Processes started in their own sessions; `stop` ends each whole group (workers' children too)."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, args: list[str], *, log: Path, **kwargs) -> subprocess.Popen:
        with open(log, "ab") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            _signal_group(proc, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=10)
            # Children (celery pool processes) may outlive their parent briefly: make sure.
            _signal_group(proc, signal.SIGKILL)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


@pytest.fixture
def processes():
    groups = ProcessGroups()
    yield groups
    groups.stop()


@pytest.fixture
def private_redis(tmp_path, processes) -> str:
    """Start a throw-away redis-server on a free port; return its URL."""
    port = free_port()
    processes.start(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        log=tmp_path / "redis.log",
    )
    wait_for(lambda: _redis_ping(port), 30, "redis-server did not start")
    return f"redis://127.0.0.1:{port}/0"


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def wait_for(predicate, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"{message} within {timeout:.0f} s")


class Browser:
    """A minimal HTTP client with a cookie jar and Django's CSRF dance, for a server on 127.0.0.1.

    `scheme="https"` sends `X-Forwarded-Proto: https` as a TLS-terminating proxy would, and keeps
    the Secure cookies Django then sets (a stock cookie jar would drop them over plain HTTP).
    """

    def __init__(self, port: int, scheme: str = "http") -> None:
        self.port, self.scheme = port, scheme
        self.origin = f"{scheme}://127.0.0.1:{port}"
        self.headers = {"X-Forwarded-Proto": "https"} if scheme == "https" else {}
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, data: dict | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        sent = {**self.headers, **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if data is not None:
            body = urlencode(data)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body, sent)
            response = conn.getresponse()
            content = response.read().decode("utf-8", errors="replace")
        finally:
            conn.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                self.cookies[name] = morsel.value
        return response.status, content, response.headers

    def get(self, path: str) -> tuple[int, str, str]:
        """GET `path`, following redirects on this site; return (status, body, final path)."""
        for _ in range(5):
            status, content, headers = self.request("GET", path)
            if status not in (301, 302, 303, 307, 308):
                return status, content, path
            location = urlsplit(headers["Location"])
            assert location.netloc in ("", f"127.0.0.1:{self.port}"), f"{path} redirects off-site: {location}"
            assert location.scheme in ("", self.scheme), f"{path} redirects to {location.scheme}"
            path = location.path + (f"?{location.query}" if location.query else "")
        raise AssertionError(f"too many redirects from {path}")

    def login(self, username: str, password: str) -> None:
        self.cookies.clear()
        status, page, _ = self.get("/accounts/login/")
        assert status == 200, f"login page: {status}"
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        status, page, headers = self.request(
            "POST", "/accounts/login/",
            {"csrfmiddlewaretoken": token, "username": username, "password": password},
            headers={"Referer": f"{self.origin}/accounts/login/", "Origin": self.origin},
        )
        assert status == 302 and "sessionid" in self.cookies, f"log-in as {username} failed: {status} {page[:500]}"


def page_links(page: str) -> list[str]:
    """Return the site-relative links of a page (no static files, no fragments)."""
    links = []
    for href in re.findall(r'href="(/[^"]*)"', page):
        href = html.unescape(href).split("#")[0]
        if href and not href.startswith("/static/"):
            links.append(href)
    return links


def link_pattern(path: str) -> str:
    """Return a link with its ids and query values blanked: links of one kind share a pattern."""
    base, _, query = path.partition("?")
    keys = sorted(part.split("=")[0] for part in query.split("&") if part)
    return re.sub(r"\d+", "N", base) + ("?" + "&".join(keys) if keys else "")


def crawl(browser: Browser, start: list[str], follow, *, every: set[str] = frozenset(), per_pattern: int = 2,
          limit: int = 600) -> dict[str, int]:
    """GET every page reachable from `start` through links `follow` accepts; return {path: status}.

    Links of one pattern are visited `per_pattern` times (2 count-correction forms are enough),
    except patterns in `every`, which are all visited (every patient page).
    """
    seen: dict[str, int] = {}
    per: dict[str, int] = {}
    queue = deque(start)
    while queue and len(seen) < limit:
        path = queue.popleft()
        if path in seen:
            continue
        pattern = link_pattern(path)
        if pattern not in every and per.get(pattern, 0) >= per_pattern:
            continue
        per[pattern] = per.get(pattern, 0) + 1
        status, page, _ = browser.get(path)
        seen[path] = status
        if status == 200:
            queue.extend(link for link in page_links(page) if follow(link) and link not in seen)
    return seen


# Settings the test suite exports that a new user's shell would not have.
SUITE_ONLY_ENV = {
    "DATABASE_URL", "DJANGO_SETTINGS_MODULE", "DJANGO_DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "STATIC_ROOT",
    "CELERY_TASK_ALWAYS_EAGER", "CELERY_TASK_DEFAULT_QUEUE", "PORT", "MLLP_PORT", "MAKEFLAGS", "MFLAGS", "MAKELEVEL",
}


def fresh_clone(tmp_path: Path) -> tuple[Path, list[str]]:
    """Clone this repository's HEAD; return the clone and the extra `make` arguments it needs.

    The clone reuses this checkout's virtualenv through a symlink when that venv works (same
    requirements.txt, same commit): a fresh install would take minutes and the network. `-o` tells
    make the venv is up to date, so it neither re-creates nor changes the shared one.
    """
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, check=True, capture_output=True, text=True)
    clone = tmp_path / "neutrowatch"
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(REPO), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", head.stdout.strip()], check=True)
    venv = (REPO / ".venv").resolve()
    python = venv / "bin" / "python"
    sane = python.exists() and subprocess.run(
        [str(python), "-c", "import django, celery, plotly, whitenoise"], capture_output=True
    ).returncode == 0
    if not sane:
        return clone, []
    (clone / ".venv").symlink_to(venv)
    return clone, ["-o", ".venv/.installed"]


def user_env(redis_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in SUITE_ONLY_ENV}
    env["REDIS_URL"] = redis_url
    return env
