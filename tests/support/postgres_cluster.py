"""A throwaway PostgreSQL cluster owned by the test, that refuses connections without TLS.

Heroku Postgres accepts only TLS connections, but the shared test server on 127.0.0.1:5432 has no
TLS, so end-to-end tests on it add ``?sslmode=disable``. This cluster is made like Heroku's: a
self-signed certificate, ``hostssl ... scram-sha-256`` with a password, and every connection
without encryption rejected in pg_hba.conf. Its owner may stop and restart it (same port, same
data), which fault tests do under load.

The test process administers it over a Unix socket in the cluster's directory (trust), so admin
connections never count among the TCP connections the app opens. Every connection the server
accepts is logged (log_connections), so a test can see how many the app opened and whether over TLS.

initdb and postgres refuse to run as root: as root, the cluster's commands run as the ``postgres``
system user, who owns its directory. Binaries are found through TEST_POSTGRES_BIN, pg_config, the
newest /usr/lib/postgresql/*/bin, or PATH. If they are missing the tests that need the cluster are
skipped outside CI and fail in CI (CI=true), as tests.support.services does for the shared services.

Import the fixtures into the test modules that use them::

    from tests.support.postgres_cluster import cluster_database, postgres_cluster  # noqa: F401

``postgres_cluster`` is module-scoped: each module that imports it gets a cluster of its own, so a
fault test that breaks its cluster cannot break another module's. ``cluster_database`` gives each
test a fresh database in it, and starts the cluster first if an earlier test left it stopped.
``plain_postgres_cluster`` has no TLS at all, for tests that show a client insisting on TLS.
"""

import datetime
import ipaddress
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from glob import glob
from pathlib import Path

import pytest

from tests.support.services import free_port

SUPERUSER = "postgres"
BIN_ENV = "TEST_POSTGRES_BIN"
INSTALL = f"apt-get install postgresql (Debian/Ubuntu) or set {BIN_ENV} to the directory holding initdb and pg_ctl"
TLS_SETTINGS = {
    "ssl": "on",
    "ssl_cert_file": "'{directory}/server.crt'",
    "ssl_key_file": "'{directory}/server.key'",
}
SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "'{directory}'",
    # A throwaway cluster: losing it in a power cut costs nothing, waiting on the disk costs seconds.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "'32MB'",
    "max_connections": "50",
    # Each accepted connection is logged with its database and whether it uses TLS.
    "log_connections": "on",
    "log_line_prefix": "'%m [%p] '",
}
PG_HBA = """\
# Written by tests/support/postgres_cluster.py: TLS and a password over TCP, as Heroku Postgres demands.
local     all  all                 trust
hostssl   all  all  127.0.0.1/32   scram-sha-256
hostnossl all  all  0.0.0.0/0      reject
"""
PLAIN_PG_HBA = """\
# Written by tests/support/postgres_cluster.py: a password over TCP, without TLS (tls=False).
local     all  all                 trust
host      all  all  127.0.0.1/32   scram-sha-256
"""
AUTHORIZED = re.compile(r"connection authorized: user=\S+ database=(?P<database>\S+)(?P<rest>.*)$", re.M)


def missing(reason):
    """Skip on a developer's machine, fail in CI: the convention of tests.support.services.missing()."""
    message = f"PostgreSQL server binaries are needed for a cluster of the test's own: {reason}; {INSTALL}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI needs them: {message}", pytrace=False)
    pytest.skip(message)


def find_bin_dir():
    """The directory holding initdb and pg_ctl, or None."""
    candidates = []
    if os.environ.get(BIN_ENV):
        candidates.append(os.environ[BIN_ENV])
    else:
        if shutil.which("pg_config"):
            result = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
            if result.returncode == 0:
                candidates.append(result.stdout.strip())

        def version(path):
            return [int(part) for part in re.findall(r"\d+", path)]

        candidates += sorted(glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
        if shutil.which("initdb"):
            candidates.append(str(Path(shutil.which("initdb")).parent))
    for candidate in candidates:
        if all(os.access(Path(candidate) / tool, os.X_OK) for tool in ("initdb", "pg_ctl")):
            return Path(candidate)
    return None


def self_signed_certificate(directory, owner):
    """Write server.crt and server.key (mode 0600, as PostgreSQL demands) for 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = Path(directory) / "server.key", Path(directory) / "server.crt"
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    if owner:
        for path in (key_path, cert_path):
            shutil.chown(path, *owner)


class PostgresCluster:
    """initdb, configure, start; then ``stop(mode)`` and ``start()`` as often as a test likes.

    With ``tls=False`` the server has no TLS at all, like the shared test server, so that a test
    can see a client that requires TLS refuse it.

    ``url`` reaches the ``postgres`` database as the superuser, over TCP with the password and no
    sslmode in the query; ``database_url(name)`` reaches another database the same way.
    """

    def __init__(self, tls=True, bin_dir=None):
        self.tls = tls
        self.bin_dir = Path(bin_dir) if bin_dir else find_bin_dir()
        if self.bin_dir is None:
            missing(f"no initdb and pg_ctl in ${BIN_ENV}, pg_config --bindir, /usr/lib/postgresql/*/bin or PATH")
        self.owner = None  # run as ourselves
        if os.geteuid() == 0:
            import grp
            import pwd

            try:
                user = pwd.getpwnam(SUPERUSER)
            except KeyError:
                missing(f"initdb refuses to run as root and there is no {SUPERUSER!r} system user to run it as")
            self.owner = (user.pw_name, grp.getgrgid(user.pw_gid).gr_name)
        self.password = secrets.token_urlsafe(18)
        self.port = free_port()
        self.host = "127.0.0.1"
        self.directory = Path(tempfile.mkdtemp(prefix="herokuapp-pg-"))
        self.data = self.directory / "data"
        self.logfile = self.directory / "postgresql.log"
        self.create_seconds = self.start_seconds = None
        try:
            self._create()
            self.start()
        except BaseException:
            self.destroy()
            raise

    @property
    def url(self):
        return self.database_url("postgres")

    def database_url(self, name):
        return f"postgres://{SUPERUSER}:{self.password}@{self.host}:{self.port}/{name}"

    def _run(self, *command, timeout=60, check=True):
        """Run one of the cluster's binaries as its owner; raise with its output if it fails."""
        tool = str(self.bin_dir / command[0])
        as_owner = {"user": self.owner[0], "group": self.owner[1], "extra_groups": []} if self.owner else {}
        result = subprocess.run(
            [tool, *command[1:]],
            cwd=self.directory,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            **as_owner,
        )
        if check and result.returncode != 0:
            log = self.logfile.read_text(errors="replace")[-3000:] if self.logfile.exists() else ""
            raise RuntimeError(
                f"{' '.join(command)} exited with {result.returncode}:\n{result.stdout}{result.stderr}\n{log}"
            )
        return result

    def _create(self):
        began = time.monotonic()
        if self.owner:
            shutil.chown(self.directory, *self.owner)
        self.directory.chmod(0o700)
        password_file = self.directory / "password"
        password_file.write_text(self.password + "\n")
        if self.owner:
            shutil.chown(password_file, *self.owner)
        self._run(
            "initdb",
            "--pgdata",
            str(self.data),
            "--username",
            SUPERUSER,
            "--pwfile",
            str(password_file),
            "--auth-local",
            "trust",
            "--auth-host",
            "scram-sha-256",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--no-sync",
            "--no-instructions",
        )
        password_file.unlink()
        settings = dict(SERVER_SETTINGS, port=str(self.port))
        if self.tls:
            self_signed_certificate(self.directory, self.owner)
            settings |= TLS_SETTINGS
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("\n# Written by tests/support/postgres_cluster.py\n")
            for name, value in settings.items():
                conf.write(f"{name} = {value.format(directory=self.directory)}\n")
        (self.data / "pg_hba.conf").write_text(PG_HBA if self.tls else PLAIN_PG_HBA)
        self.create_seconds = time.monotonic() - began

    def start(self, timeout=30):
        """Start the server on its port and data; return once it accepts connections."""
        began = time.monotonic()
        self._run(
            "pg_ctl",
            "start",
            "--wait",
            "--timeout",
            str(timeout),
            "--pgdata",
            str(self.data),
            "--log",
            str(self.logfile),
            timeout=timeout + 10,
        )
        self.start_seconds = time.monotonic() - began
        return self

    def stop(self, mode="fast", timeout=30):
        """Stop the server: ``fast`` ends sessions and checkpoints, ``immediate`` is a crash."""
        if mode not in {"smart", "fast", "immediate"}:
            raise ValueError(f"pg_ctl has no stop mode {mode!r}")
        self._run(
            "pg_ctl",
            "stop",
            "--wait",
            "--timeout",
            str(timeout),
            "--mode",
            mode,
            "--pgdata",
            str(self.data),
            timeout=timeout + 10,
        )

    def restart(self, mode="fast"):
        self.stop(mode)
        return self.start()

    @property
    def running(self):
        """Whether a postmaster runs on the data directory (pg_ctl status: 0 yes, 3 no)."""
        return self._run("pg_ctl", "status", "--pgdata", str(self.data), check=False).returncode == 0

    def admin(self, dbname="postgres"):
        """A superuser connection over the Unix socket (trust), in autocommit mode."""
        import psycopg

        return psycopg.connect(
            host=str(self.directory), port=self.port, user=SUPERUSER, dbname=dbname, autocommit=True, connect_timeout=5
        )

    def create_database(self, name=None):
        name = name or f"app_{uuid.uuid4().hex[:12]}"
        with self.admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name):
        with self.admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def log(self, since=0):
        """The server's log from byte offset ``since``; ``log_size()`` gives an offset for later."""
        with open(self.logfile, "rb") as file:
            file.seek(since)
            return file.read().decode(errors="replace")

    def log_size(self):
        return self.logfile.stat().st_size

    def connections_authorized(self, database, since=0):
        """For each connection the server accepted into ``database``: did it use TLS?"""
        return [
            "SSL enabled" in match["rest"]
            for match in AUTHORIZED.finditer(self.log(since))
            if match["database"] == database
        ]

    def destroy(self):
        """Stop the server at once if it runs, and remove its directory."""
        try:
            if self.running:
                self.stop("immediate")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __repr__(self):
        return f"<PostgresCluster 127.0.0.1:{self.port} {'TLS only' if self.tls else 'no TLS'} {self.directory}>"


class ClusterDatabase:
    """A fresh database of one test's own, in a PostgresCluster."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.name = cluster.create_database()
        self.url = cluster.database_url(self.name)

    def drop(self):
        self.cluster.drop_database(self.name)


@pytest.fixture(scope="module")
def postgres_cluster():
    """A TLS-only PostgreSQL cluster for this module's tests, removed after the last one."""
    cluster = PostgresCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def plain_postgres_cluster():
    """A cluster with no TLS at all (password over plain TCP), removed after the module's last test."""
    cluster = PostgresCluster(tls=False)
    yield cluster
    cluster.destroy()


@pytest.fixture
def cluster_database(postgres_cluster):
    """A fresh database in the module's cluster (started again if a test left it stopped)."""
    if not postgres_cluster.running:
        postgres_cluster.start()
    database = ClusterDatabase(postgres_cluster)
    yield database
    if not postgres_cluster.running:
        postgres_cluster.start()
    database.drop()
