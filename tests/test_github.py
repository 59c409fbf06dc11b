"""What a fork gets on GitHub: the workflow that runs bin/test, Dependabot's updates, and the
pre-commit hooks that run ruff as bin/test does."""

import re
import shlex
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
import yaml

from tests.support.dyno import ROOT

GITHUB = ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.y*ml"))
# actionlint checks workflows as GitHub runs them (expressions, runner labels, action inputs);
# check-jsonschema carries the schema GitHub publishes (through SchemaStore) for Dependabot's file.
ACTIONLINT = Path(sys.executable).parent / "actionlint"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
BIN_TEST = (ROOT / "bin" / "test").read_text()


def load(path):
    return yaml.safe_load(path.read_text())


def validate(path, schema):
    result = subprocess.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", schema, path], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def actionlint(*paths):
    return subprocess.run([ACTIONLINT, "-no-color", *paths], cwd=ROOT, capture_output=True, text=True, timeout=60)


def default_url(variable):
    """The URL bin/test uses when ``variable`` is unset, read from bin/test itself."""
    match = re.search(r"\$\{" + variable + r":-([^}]+)\}", BIN_TEST)
    assert match, f"bin/test has no default for {variable}"
    return urllib.parse.urlsplit(match.group(1))


def test_the_test_workflow_is_among_the_workflows_checked_below():
    assert "test.yml" in [path.name for path in WORKFLOWS]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_actionlint_finds_nothing_wrong_in_any_workflow(workflow):
    result = actionlint(workflow)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_finds_what_github_would_refuse(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        (GITHUB / "workflows" / "test.yml").read_text().replace("runs-on: ubuntu-latest", "runs-on: ${{ matrix.os }}")
    )
    result = actionlint(broken)
    assert result.returncode == 1 and "matrix" in result.stdout, result.stdout + result.stderr


def test_dependabot_config_is_one_github_accepts():
    validate(GITHUB / "dependabot.yml", "vendor.dependabot")


@pytest.fixture(scope="module")
def job():
    workflow = load(GITHUB / "workflows" / "test.yml")
    # YAML 1.1 reads the key ``on`` as True.
    assert set(workflow.get("on", workflow.get(True))) == {"push", "pull_request"}
    [job] = workflow["jobs"].values()
    return job


def test_the_workflow_runs_bin_test_in_ci_mode_with_the_python_of_python_version(job):
    assert job["runs-on"] == "ubuntu-latest"
    assert job["env"]["CI"] == "true"
    runs = [shlex.split(step["run"]) for step in job["steps"] if "run" in step]
    assert runs == [["bin/test"]]
    [setup_python] = [step for step in job["steps"] if step.get("uses", "").startswith("actions/setup-python@")]
    assert setup_python["with"] == {"python-version-file": ".python-version"}


def test_the_workflow_pins_each_action_to_a_major_version(job):
    for step in job["steps"]:
        if "uses" in step:
            assert re.fullmatch(r"actions/[\w-]+@v\d+", step["uses"]), step["uses"]


def published(service):
    """The (host address, host port, container port) of each port a service publishes."""
    return {tuple(port.split(":")) for port in service["ports"]}


def test_the_postgres_service_is_where_bin_test_looks_by_default(job):
    url = default_url("TEST_POSTGRES_URL")
    postgres = job["services"]["postgres"]
    assert published(postgres) == {(url.hostname, str(url.port), "5432")}
    assert postgres["env"].get("POSTGRES_USER", "postgres") == url.username
    assert postgres["env"]["POSTGRES_DB"] == url.path.lstrip("/")
    # bin/test's URL carries no password: the server must trust its connections.
    assert url.password is None and postgres["env"]["POSTGRES_HOST_AUTH_METHOD"] == "trust"
    assert "--health-cmd" in postgres["options"]


def test_the_redis_service_is_where_bin_test_looks_by_default(job):
    url = default_url("TEST_REDIS_URL")
    redis = job["services"]["redis"]
    assert published(redis) == {(url.hostname, str(url.port), "6379")}
    assert "--health-cmd" in redis["options"]


def test_dependabot_updates_the_pip_requirements_and_the_actions_weekly():
    updates = load(GITHUB / "dependabot.yml")["updates"]
    assert {(update["package-ecosystem"], update["directory"]) for update in updates} == {
        ("pip", "/"),
        ("github-actions", "/"),
    }
    assert {update["schedule"]["interval"] for update in updates} == {"weekly"}
    assert {"requirements.txt", "requirements-test.txt"} <= {path.name for path in ROOT.glob("requirements*.txt")}


def test_pre_commit_runs_ruff_at_the_version_requirements_test_pins():
    pinned = re.search(r"^ruff==(\S+)$", (ROOT / "requirements-test.txt").read_text(), re.MULTILINE).group(1)
    [ruff] = [
        repo for repo in load(ROOT / ".pre-commit-config.yaml")["repos"] if repo["repo"].endswith("/ruff-pre-commit")
    ]
    assert ruff["rev"] == f"v{pinned}"
    # The linter's fixes come first, so that the formatter has the last word.
    assert [(hook["id"], hook.get("args", [])) for hook in ruff["hooks"]] == [
        ("ruff-check", ["--fix"]),
        ("ruff-format", []),
    ]


def test_bin_test_lints_and_checks_formatting_once_before_the_first_pytest_run():
    lines = [line.strip() for line in BIN_TEST.splitlines()]
    check, form = lines.index(".venv/bin/ruff check ."), lines.index(".venv/bin/ruff format --check .")
    first_pytest = next(number for number, line in enumerate(lines) if "-m pytest" in line)
    assert check < form < first_pytest
    assert BIN_TEST.count("ruff check") == BIN_TEST.count("ruff format") == 1
    assert BIN_TEST.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in BIN_TEST


def fake_command(directory, name, body):
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


# What the fake sudo and apt-get below record: each call sudo passes on, then apt-get's own.
APT_GET = ["apt-get update -qq", "apt-get install -y -qq tool-package"]
THROUGH_SUDO = [
    "sudo -n env apt-get update -qq",
    APT_GET[0],
    "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tool-package",
    APT_GET[1],
]


@pytest.mark.parametrize(
    "uid, sudo, calls",
    [
        ("0", "", APT_GET),
        ("1001", "nopasswd", THROUGH_SUDO),
        ("1001", "password", []),
    ],
    ids=["root", "passwordless-sudo", "sudo-with-password"],
)
def test_apt_install_installs_as_root_or_through_passwordless_sudo_as_on_githubs_runners(tmp_path, uid, sudo, calls):
    """GitHub's runners run the job as a user whose sudo asks no password; a sudo that would ask
    one is not tried, and the missing package is named instead."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    fake_command(bin_dir, "id", f"echo {uid}")
    fake_command(bin_dir, "apt-get", f'echo "apt-get $*" >> {log}')
    fake_command(
        bin_dir,
        "sudo",
        f'echo "sudo $*" >> {log}; [ "$1" = -n ] && [ "{sudo}" = nopasswd ] || exit 1; shift; exec "$@"',
    )
    result = subprocess.run(
        [ROOT / "bin" / "apt-install", "/nonexistent/tool=tool-package"],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    made = [line for line in log.read_text().splitlines() if line != "sudo -n true"] if log.exists() else []
    assert made == calls
    if calls:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 1
        assert "install with: sudo apt-get install tool-package" in result.stderr
