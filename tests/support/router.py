"""A stand-in for Heroku's router: nginx terminating TLS in front of a web dyno, on loopback.

Like the router it answers HTTPS and plain HTTP, forwards every request to the dyno over plain
HTTP with ``X-Forwarded-Proto``, ``-For`` and ``-Port`` and an ``X-Request-Id``, and leaves the
rest to the app (the redirect to HTTPS, every security header). Its certificate is signed by a CA
made up for the run (tests.support.redis_tls.write_certificates): a client trusts it when given
``ca_file``, and a browser when told to ignore certificate errors.

The browser tests run it on free ports; the audit (audit/audit.py) on 80 and 443, the only ports
the HTTP Observatory scans. nginx comes from Debian's packages (apt-get install nginx).
"""

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.support.services import free_port

INSTALL = "apt-get install nginx (Debian and Ubuntu)"
START_TIMEOUT = 10

CONFIG = """\
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log {directory}/access.log;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    server_tokens off;

    upstream dyno {{
        server 127.0.0.1:{upstream_port};
        keepalive 16;
    }}

    server {{
{listen}
        ssl_certificate {certificate};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;

        location / {{
            proxy_pass http://dyno;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Port $server_port;
            proxy_set_header X-Request-Id $request_id;
            proxy_redirect off;
        }}
    }}
}}
"""


class RouterUnavailable(Exception):
    """nginx is missing, or could not listen where it was asked to."""


def nginx_executable():
    """nginx's path, or None. Debian installs it in /usr/sbin, which a user's PATH may lack."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


class Router:
    """nginx on loopback in front of the dyno listening on ``upstream_port``; start(), then stop()."""

    def __init__(
        self, upstream_port, directory, host="localhost", https_port=None, http_port=None, addresses=("127.0.0.1",)
    ):
        from tests.support.redis_tls import write_certificates

        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.https_port = https_port or free_port()
        self.http_port = http_port or free_port()
        self.certificates = write_certificates(self.directory)
        self.ca_file = self.certificates["ca"]
        listen = []
        for address in addresses:
            address = f"[{address}]" if ":" in address else address
            listen.append(f"        listen {address}:{self.https_port} ssl http2;")
            listen.append(f"        listen {address}:{self.http_port};")
        self.config = self.directory / "nginx.conf"
        self.config.write_text(
            CONFIG.format(
                directory=self.directory,
                upstream_port=upstream_port,
                listen="\n".join(listen),
                certificate=self.certificates["cert"],
                key=self.certificates["key"],
            )
        )
        self.process = None

    @property
    def url(self):
        """The HTTPS origin a browser uses, such as https://localhost:8443 (no port when 443)."""
        return f"https://{self.host}" + ("" if self.https_port == 443 else f":{self.https_port}")

    @property
    def http_url(self):
        return f"http://{self.host}" + ("" if self.http_port == 80 else f":{self.http_port}")

    def start(self):
        executable = nginx_executable()
        if executable is None:
            raise RouterUnavailable(f"nginx is not installed; {INSTALL}")
        log = self.directory / "nginx.out"
        with log.open("w") as output:
            self.process = subprocess.Popen(
                [
                    executable,
                    "-p",
                    str(self.directory),
                    "-c",
                    str(self.config),
                    "-e",
                    str(self.directory / "error.log"),
                    "-g",
                    "daemon off;",
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RouterUnavailable(f"nginx exited with {self.process.returncode}: {self.output()}")
            try:
                socket.create_connection(("127.0.0.1", self.https_port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RouterUnavailable(
            f"nginx did not listen on port {self.https_port} within {START_TIMEOUT} s: {self.output()}"
        )

    def stop(self, timeout=10):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGQUIT)  # nginx's graceful shutdown
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def output(self):
        text = ""
        for name in ("nginx.out", "error.log"):
            path = self.directory / name
            if path.exists():
                text += path.read_text(errors="replace")
        return " ".join(text.split())[-2000:]
