"""A Redis server of the tests' own that speaks only TLS, like Heroku Key-Value Store.

Heroku's rediss:// endpoint presents a certificate no public CA signed. The server here does the
same: its certificate is signed by a CA made up for the test run, which no client trusts unless
given the CA file. It listens on 127.0.0.1 on a TLS port only (``--port 0``) and wants a password.

Import the fixtures into a test module that uses them::

    from tests.support.redis_tls import redis_tls, redis_tls_server  # noqa: F401

``redis_tls_server`` starts one server per module; ``redis_tls`` hands it to a test with its data
flushed and every other client disconnected, so each test starts from a clean state.

Where redis-server is missing or was built without TLS, the tests that need it are skipped,
saying so; in CI (CI=true) they fail instead, as with the other services (see tests/support/services.py).
"""

import datetime
import ipaddress
import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from tests.support.services import free_port

INSTALL = "install redis-server 6 or later built with TLS (Debian and Ubuntu: apt-get install redis-server)"
START_TIMEOUT = 10


def missing(reason):
    """Skip on a developer's machine, fail in CI: the convention of tests.support.services.missing()."""
    message = f"Redis with TLS is not available: {reason}; {INSTALL}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI needs Redis with TLS: {message}", pytrace=False)
    pytest.skip(message)


def write_certificates(directory):
    """Write a CA and a server certificate for 127.0.0.1 and localhost it signed; return their paths.

    The extensions are those Python 3.13's strict verification (VERIFY_X509_STRICT) asks of a
    chain, so that a client given the CA file accepts the server: only trust is missing.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    directory = Path(directory)

    def name(common_name):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def key_usage(**usages):
        flags = dict.fromkeys(
            [
                "digital_signature",
                "content_commitment",
                "key_encipherment",
                "data_encipherment",
                "key_agreement",
                "key_cert_sign",
                "crl_sign",
                "encipher_only",
                "decipher_only",
            ],
            False,
        )
        return x509.KeyUsage(**(flags | usages))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("herokuapp test CA"))
        .issuer_name(name("herokuapp test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    paths = {"ca": directory / "ca.crt", "cert": directory / "server.crt", "key": directory / "server.key"}
    paths["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    paths["key"].chmod(0o600)
    return paths


@dataclass
class RedisTLSServer:
    """A running TLS-only redis-server; ``url`` is what Heroku would put in REDIS_URL."""

    port: int
    password: str
    ca_file: Path
    log_file: Path
    process: subprocess.Popen = field(repr=False)
    host: str = "127.0.0.1"

    @property
    def url(self):
        return self.url_for()

    def url_for(self, password=None, db=0):
        """The rediss:// URL, with another password (or none, with ``password=""``) if given."""
        password = self.password if password is None else password
        credentials = f":{password}@" if password else ""
        return f"rediss://{credentials}{self.host}:{self.port}/{db}"

    def client(self, **options):
        """A redis-py client of the test's own that verifies the server against the test CA."""
        options = {"ssl_cert_reqs": "required", "ssl_ca_certs": str(self.ca_file), "socket_timeout": 5} | options
        return redis.Redis.from_url(self.url, **options)

    def clients(self, name=None):
        """The server's client connections (CLIENT LIST), other than the one asking, by name if given."""
        with self.client() as client:
            own = client.client_id()
            return [c for c in client.client_list() if int(c["id"]) != own and (name is None or c["name"] == name)]

    def output(self):
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def stop(self, timeout=5):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(directory, attempts=3):
    """Start redis-server on a free TLS port and wait until it answers over TLS."""
    executable = shutil.which("redis-server")
    if executable is None:
        missing("redis-server is not on PATH")
    try:
        paths = write_certificates(directory)
    except ImportError as error:
        missing(f"the cryptography package is needed to make its certificates ({error})")
    password = secrets.token_hex(16)
    for attempt in range(1, attempts + 1):
        port = free_port()
        log_file = Path(directory) / f"redis-server-{port}.log"
        command = [
            executable,
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--tls-cert-file",
            str(paths["cert"]),
            "--tls-key-file",
            str(paths["key"]),
            "--tls-ca-cert-file",
            str(paths["ca"]),
            "--tls-auth-clients",
            "no",
            "--requirepass",
            password,
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(directory),
        ]
        with log_file.open("w") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=directory)
        server = RedisTLSServer(port=port, password=password, ca_file=paths["ca"], log_file=log_file, process=process)
        deadline = time.monotonic() + START_TIMEOUT
        error = None
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                with server.client(socket_connect_timeout=0.5, socket_timeout=0.5) as client:
                    if client.ping():
                        return server
            except redis.RedisError as failure:
                error = failure
                time.sleep(0.05)
        server.stop()
        output = server.output()
        if "Bad directive" in output or "not supported" in output.lower():
            version = subprocess.run([executable, "--version"], capture_output=True, text=True).stdout.strip()
            missing(
                f"{version or executable} does not accept --tls-port (built without TLS?): {' '.join(output.split())[-300:]}"
            )
        if process.returncode is None or attempt == attempts:
            raise RuntimeError(
                f"redis-server did not answer over TLS on 127.0.0.1:{port} within {START_TIMEOUT} s "
                f"(last error: {error!s}); its output:\n{output}"
            )
        # Most likely another process took the free port first: try another one.


@pytest.fixture(scope="module")
def redis_tls_server(tmp_path_factory):
    """One TLS-only redis-server for the module's tests, stopped (SIGTERM, then kill) afterwards."""
    server = start_server(tmp_path_factory.mktemp("redis-tls"))
    yield server
    server.stop()


@pytest.fixture
def redis_tls(redis_tls_server):
    """The module's TLS redis-server with no data and no other client connected."""
    if redis_tls_server.process.poll() is not None:
        pytest.fail(
            f"the TLS redis-server exited with {redis_tls_server.process.returncode}:\n{redis_tls_server.output()}"
        )
    with redis_tls_server.client() as client:
        client.flushall()
        # Connections an earlier test's clients left open would show up in CLIENT LIST.
        client.client_kill_filter(_type="normal", skipme=True)
    yield redis_tls_server
    with redis_tls_server.client() as client:
        client.flushall()
