"""Grade the app as production serves it with two tools nobody here wrote.

Run through audit/run, which installs what this needs (see audit/README.md). The app is built and
served as on Heroku: collectstatic with build-time configuration only, the Procfile's release
command, then its web command (gunicorn) with a production environment on a SQLite file. In front
of it, nginx stands in for Heroku's router (tests.support.router): TLS with a certificate from a CA made
up for the run, plain HTTP too, on loopback ports 443 and 80 of https://localhost.

- Lighthouse 12 (Debian's Chromium, headless) loads https://localhost/ several times with its
  default mobile settings; each category's score is the median over the runs.
- The MDN HTTP Observatory scans localhost. It only ever connects to ports 80 and 443, hence
  those ports, and it trusts the run's CA, as it would trust a public one for a real site.

It prints a table of the scores against their targets and writes them to audit/results.json.
The exit status is 0 whether or not the targets are met; 1 only when a tool could not run.
"""

import argparse
import datetime
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.dyno import WebDyno, dyno_environment, run_process  # noqa: E402
from tests.support.router import Router, RouterUnavailable  # noqa: E402

AUDIT = ROOT / "audit"
NODE_MODULES = AUDIT / "node_modules"
LIGHTHOUSE = NODE_MODULES / "lighthouse" / "cli" / "index.js"
OBSERVATORY = NODE_MODULES / "@mdn" / "mdn-http-observatory"
CHROMIUM = "/usr/bin/chromium"
HOST = "localhost"
ATTEMPTS = 2  # per Lighthouse run: a run that fails to record its trace is run once more

CATEGORIES = ["performance", "accessibility", "best-practices", "seo"]
# Lighthouse's simulated timings (ms; layout shift has no unit), kept with each run's scores.
METRICS = [
    "first-contentful-paint",
    "largest-contentful-paint",
    "total-blocking-time",
    "cumulative-layout-shift",
    "speed-index",
]
LIGHTHOUSE_TARGETS = {"performance": 0.95, "accessibility": 1.0, "best-practices": 1.0, "seo": 1.0}
OBSERVATORY_TARGETS = {"grade": "A+", "score": 130, "tests_passed": 10}


class AuditError(Exception):
    """A tool could not run; the message says why and what to do."""


def package_version(directory):
    return json.loads((directory / "package.json").read_text())["version"]


def chromium_version():
    output = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout
    return " ".join(output.split()[:2])


def check_ports_free(*ports):
    for port in ports:
        with socket.socket() as sock:
            # As nginx does: a connection of an earlier run lingering in TIME_WAIT leaves the port free.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except PermissionError:
                raise AuditError(f"port {port} needs root: the Observatory scans only ports 80 and 443") from None
            except OSError as error:
                raise AuditError(
                    f"port {port} on 127.0.0.1 is taken ({error.strerror}); stop what listens there "
                    "(for example a system nginx: service nginx stop) and run this again"
                ) from None


def serve(directory):
    """Build, release and start a production dyno on a SQLite file; return it, started."""
    build_env = dyno_environment()  # no SECRET_KEY, no DYNO, no services: the build's configuration
    build = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=build_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if build.returncode:
        raise AuditError(f"collectstatic failed:\n{build.stderr}")
    env = dyno_environment(
        SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=f"sqlite:///{directory / 'db.sqlite3'}",
        ALLOWED_HOSTS=HOST,
        WEB_CONCURRENCY=2,
    )
    release = run_process("release", env)
    if release.returncode:
        raise AuditError(f"the release command failed:\n{release.stdout}{release.stderr}")
    return WebDyno(env).start()


def lighthouse(url, runs, directory):
    """Each category's median score over ``runs`` Lighthouse runs, and every run's scores."""
    flags = ["--headless=new", "--ignore-certificate-errors"]
    if os.geteuid() == 0:
        flags.append("--no-sandbox")  # Chromium refuses to start its sandbox as root
    scores = []
    for run in range(1, runs + 1):
        report = directory / f"lighthouse-{run}.json"
        for attempt in range(1, ATTEMPTS + 1):
            result = subprocess.run(
                [
                    "node",
                    str(LIGHTHOUSE),
                    url,
                    "--quiet",
                    "--output=json",
                    f"--output-path={report}",
                    f"--only-categories={','.join(CATEGORIES)}",
                    f"--chrome-flags={' '.join(flags)}",
                ],
                env=os.environ | {"CHROME_PATH": CHROMIUM},
                capture_output=True,
                text=True,
                timeout=300,
            )
            if result.returncode == 0 and report.exists():
                break
            error = (result.stdout + result.stderr).strip()
            if attempt == ATTEMPTS:
                raise AuditError(f"Lighthouse run {run} failed {ATTEMPTS} times; the last time:\n{error}")
            # Lighthouse itself asks to be run again after a failed trace (NO_NAVSTART, NO_FCP...).
            print(f"lighthouse run {run} failed, running it again: {error.splitlines()[-1]}", flush=True)
        data = json.loads(report.read_text())
        scores.append(
            {name: data["categories"][name]["score"] for name in CATEGORIES}
            | {"metrics": {metric: round(data["audits"][metric]["numericValue"], 3) for metric in METRICS}}
        )
        failing = failing_audits(data)
        print(
            f"lighthouse run {run}: "
            + ", ".join(f"{name} {scores[-1][name]:.2f}" for name in CATEGORIES)
            + (f" (short of 1: {', '.join(failing)})" if failing else ""),
            flush=True,
        )
    medians = {name: statistics.median(run[name] for run in scores) for name in CATEGORIES}
    return medians, scores


def failing_audits(report):
    """The ids of the scored audits that lost points, for the log."""
    failing = []
    for category in report["categories"].values():
        for ref in category["auditRefs"]:
            audit = report["audits"][ref["id"]]
            if ref["weight"] and audit["score"] is not None and audit["score"] < 1:
                failing.append(f"{ref['id']} {audit['score']:.2f}")
    return failing


def observatory(host, ca_file):
    """The Observatory's scan of ``host``: grade, score and tests passed, and each test's result."""
    # Its install script downloads Chromium's HSTS preload list, which this machine cannot fetch.
    # An empty list says that no host is preloaded, which is true of localhost; only a preloaded
    # host earns the list's bonus, so the grade can only be lower for it, never higher.
    preload = OBSERVATORY / "conf" / "hsts-preload.json"
    if not preload.exists():
        preload.write_text("{}\n")
    # bin/wrapper.js points NODE_EXTRA_CA_CERTS at the public CAs; scan.js is the same scan, here
    # trusting the run's CA instead.
    result = subprocess.run(
        ["node", str(OBSERVATORY / "src" / "scan.js"), host],
        env=os.environ | {"NODE_EXTRA_CA_CERTS": str(ca_file)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise AuditError(f"the Observatory failed:\n{result.stdout}{result.stderr}") from None
    if "error" in report:
        raise AuditError(f"the Observatory could not scan {host}: {report['error']}")
    scan = report["scan"]
    return {
        "grade": scan["grade"],
        "score": scan["score"],
        "tests_passed": scan["testsPassed"],
        "tests": scan["testsQuantity"],
        "results": {
            name: {"result": test["result"], "pass": test["pass"], "modifier": test["scoreModifier"]}
            for name, test in sorted(report["tests"].items())
        },
    }


def met(value, target):
    if isinstance(target, str):
        return value == target
    return value >= target


def table(results):
    rows = [("tool", "measure", "result", "target", "met")]
    for name in CATEGORIES:
        value, target = results["lighthouse"]["median"][name], LIGHTHOUSE_TARGETS[name]
        rows.append(
            (
                "Lighthouse",
                f"{name} (median of {len(results['lighthouse']['runs'])})",
                f"{value:.2f}",
                f">= {target:.2f}",
                "yes" if met(value, target) else "NO",
            )
        )
    scan = results["observatory"]
    rows.append(
        (
            "Observatory",
            "grade",
            scan["grade"],
            OBSERVATORY_TARGETS["grade"],
            "yes" if met(scan["grade"], OBSERVATORY_TARGETS["grade"]) else "NO",
        )
    )
    rows.append(
        (
            "Observatory",
            "score",
            str(scan["score"]),
            f">= {OBSERVATORY_TARGETS['score']}",
            "yes" if met(scan["score"], OBSERVATORY_TARGETS["score"]) else "NO",
        )
    )
    rows.append(
        (
            "Observatory",
            "tests passed",
            f"{scan['tests_passed']}/{scan['tests']}",
            f"{OBSERVATORY_TARGETS['tests_passed']}/{scan['tests']}",
            "yes" if met(scan["tests_passed"], OBSERVATORY_TARGETS["tests_passed"]) else "NO",
        )
    )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="Lighthouse runs; the median is reported (default 3)")
    parser.add_argument("--output", type=Path, default=AUDIT / "results.json", help="where the JSON goes")
    args = parser.parse_args(argv)

    check_ports_free(80, 443)
    with tempfile.TemporaryDirectory(prefix="audit-") as tmp:
        directory = Path(tmp)
        dyno = serve(directory)
        router = Router(dyno.port, directory / "router", host=HOST, https_port=443, http_port=80)
        try:
            router.start()
            print(f"serving {router.url}/ (gunicorn behind nginx, production settings)", flush=True)
            medians, runs = lighthouse(router.url + "/", args.runs, directory)
            scan = observatory(HOST, router.ca_file)
        finally:
            router.stop()
            dyno.kill()

    results = {
        "date": datetime.date.today().isoformat(),
        "url": f"https://{HOST}/",
        "tools": {
            "lighthouse": package_version(NODE_MODULES / "lighthouse"),
            "mdn-http-observatory": package_version(OBSERVATORY),
            "chromium": chromium_version(),
            "node": subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip(),
        },
        "lighthouse": {"median": medians, "runs": runs, "targets": LIGHTHOUSE_TARGETS},
        "observatory": scan | {"targets": OBSERVATORY_TARGETS},
    }
    results["targets_met"] = all(met(medians[name], LIGHTHOUSE_TARGETS[name]) for name in CATEGORIES) and all(
        met(scan[name], target) for name, target in OBSERVATORY_TARGETS.items()
    )
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(table(results))
    print(
        f"\nall targets met: {'yes' if results['targets_met'] else 'NO'}; written to {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}"
    )


if __name__ == "__main__":
    try:
        main()
    except (AuditError, RouterUnavailable) as error:
        print(f"audit: {error}", file=sys.stderr)
        sys.exit(1)
