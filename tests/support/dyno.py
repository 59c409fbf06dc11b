"""Run the Procfile's processes the way a Heroku dyno does, for end-to-end tests.

Each command runs from the Procfile itself, in a shell, with the test interpreter's bin directory
first on PATH and only the environment Heroku would give it.
"""

import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from tests.support.agents import BROWSER
from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = str(Path(sys.executable).parent)


def procfile(process_type, root=ROOT):
    for line in (Path(root) / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process_type:
            return command.strip()
    raise KeyError(process_type)


def dyno_environment(bin_dir=BIN, **variables):
    """A dyno's environment: PATH (``bin_dir`` first) and HOME from here, the rest from ``variables``."""
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8"}
    env.update({name: str(value) for name, value in variables.items() if value is not None})
    return env


def run_process(process_type, env, timeout=120, root=ROOT):
    """Run a one-shot Procfile process (such as ``release``) to completion."""
    return subprocess.run(
        ["bash", "-c", procfile(process_type, root)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def router_headers(request_id=None, client="203.0.113.7", host="localhost"):
    """The headers Heroku's router adds to a request it received over HTTPS."""
    headers = {
        "Host": host,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": client,
        "X-Forwarded-Port": "443",
        "X-Request-Start": str(int(time.time() * 1000)),
    }
    if request_id:
        headers["X-Request-Id"] = request_id
    return headers


class WebDyno:
    """The Procfile's ``web`` process on a free port; stop() sends SIGTERM and waits."""

    def __init__(self, env, root=ROOT):
        self.root = root
        self.port = free_port()
        self.env = dict(env, PORT=str(self.port))
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(mode="w+", prefix="dyno-", suffix=".log")
        self.process = None

    def start(self, timeout=20):
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            ["bash", "-c", f"exec {procfile('web', self.root)}"],
            cwd=self.root,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"web dyno exited with {self.process.returncode}:\n{self.output()}")
            try:
                # robots.txt is served without counting a view, so probing leaves counts alone.
                requests.get(f"{self.url}/robots.txt", headers=router_headers(), timeout=1)
                self.boot_seconds = time.monotonic() - self.started_at
                return self
            except requests.ConnectionError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"web dyno did not answer within {timeout} s:\n{self.output()}")

    def get(self, path="/", **kwargs):
        """GET ``path`` through the router as a reader's browser (requests' own User-Agent is a
        bot's, which counts no view), with ``headers`` added or replacing those."""
        headers = router_headers() | {"User-Agent": BROWSER} | kwargs.pop("headers", {})
        return requests.get(self.url + path, headers=headers, allow_redirects=False, timeout=10, **kwargs)

    def post(self, path, **kwargs):
        """POST to ``path`` as get() does."""
        headers = router_headers() | {"User-Agent": BROWSER} | kwargs.pop("headers", {})
        return requests.post(self.url + path, headers=headers, allow_redirects=False, timeout=10, **kwargs)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Signal the dyno as Heroku does and return its exit status."""
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def output(self):
        self.log.flush()
        return Path(self.log.name).read_text()

    def __repr__(self):
        return f"<WebDyno {shlex.quote(self.url)}>"
