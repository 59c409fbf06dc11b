"""app.json, the manifest the Deploy to Heroku button and review apps read."""

import json
import shlex

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
