"""app.json, the manifest the Deploy to Heroku button and review apps read."""

import json
import shlex
import subprocess
import sys

import pytest
from django.core.management import get_commands

from tests.support.dyno import ROOT, procfile

MANIFEST = json.loads((ROOT / "app.json").read_text())


def test_secret_key_is_generated_for_every_new_app():
    assert MANIFEST["env"]["SECRET_KEY"]["generator"] == "secret"


def test_postgres_and_key_value_store_add_ons_are_provisioned():
    plans = {addon["plan"].split(":")[0] for addon in MANIFEST["addons"]}
    assert plans == {"heroku-postgresql", "heroku-redis"}


def test_formation_names_only_processes_the_procfile_defines():
    for process_type in MANIFEST["formation"]:
        assert procfile(process_type)
    assert MANIFEST["formation"]["web"]["quantity"] >= 1


def test_python_buildpack_builds_the_app():
    assert [pack["url"] for pack in MANIFEST["buildpacks"]] == ["heroku/python"]


@pytest.mark.parametrize("script", sorted(MANIFEST.get("scripts", {})))
def test_scripts_run_management_commands_that_exist(script):
    words = shlex.split(MANIFEST["scripts"][script])
    assert words[:2] == ["python", "manage.py"]
    assert words[2] in get_commands()


# Heroku CI: app.json's test environment runs the suite on a test dyno.

TEST_ENVIRONMENT = MANIFEST["environments"]["test"]


def test_heroku_ci_provisions_in_dyno_postgres_and_redis():
    assert sorted(TEST_ENVIRONMENT["addons"]) == ["heroku-postgresql:in-dyno", "heroku-redis:in-dyno"]


def test_heroku_ci_fails_on_a_missing_service_or_tool_instead_of_skipping():
    assert TEST_ENVIRONMENT["env"]["CI"] == "true"


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_heroku_ci_runs_bin_test_on_the_in_dyno_services_with_chrome_for_testing(tmp_path, shell):
    """The test script, run by a shell as Heroku CI runs it, hands bin/test the add-ons' URLs as is
    (with their passwords), the Chrome on PATH, and the Aptfile's nginx, which Ubuntu puts in sbin."""
    app = tmp_path / "app"
    (app / "bin").mkdir(parents=True)
    fake_test = app / "bin" / "test"
    fake_test.write_text(
        f"#!/bin/sh\nexec {sys.executable} -c 'import json, os; print(json.dumps(dict(os.environ)))'\n"
    )
    fake_test.chmod(0o755)
    chrome = tmp_path / "chrome-for-testing" / "chrome"
    chrome.parent.mkdir()
    chrome.write_text("#!/bin/sh\n")
    chrome.chmod(0o755)
    dyno = {
        "PATH": f"{chrome.parent}:/usr/bin:/bin",
        "HOME": str(app),
        "DATABASE_URL": "postgres://u1a2b3:p4ss$w0rd@localhost:5432/d1",
        "REDIS_URL": "redis://:s3cr3t@localhost:6379",
    }
    result = subprocess.run(
        [shell, "-c", TEST_ENVIRONMENT["scripts"]["test"]], cwd=app, env=dyno, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    env = json.loads(result.stdout)
    assert env["TEST_POSTGRES_URL"] == dyno["DATABASE_URL"]
    assert env["TEST_REDIS_URL"] == dyno["REDIS_URL"]
    assert env["TEST_CHROMIUM"] == str(chrome)
    assert env["PATH"].split(":")[0] == f"{app}/.apt/usr/sbin"


def test_heroku_ci_builds_with_apt_and_chrome_for_testing_before_python():
    packs = [pack["url"] for pack in TEST_ENVIRONMENT["buildpacks"]]
    assert packs == ["heroku-community/apt", "heroku-community/chrome-for-testing", "heroku/python"]


def test_the_aptfile_brings_what_bin_test_installs_with_apt_get_but_chromium():
    apt_install = next(line for line in (ROOT / "bin" / "test").read_text().splitlines() if "bin/apt-install" in line)
    packages = {pair.split("=")[1] for pair in shlex.split(apt_install) if "=" in pair}
    lines = (ROOT / "Aptfile").read_text().splitlines()
    assert {line for line in lines if line and not line.startswith("#")} == packages - {"chromium"}
