"""A deploy rehearsed the way Heroku performs it, from the committed tree to two serving dynos.

Build: a clean copy of the committed tree (git archive HEAD), a fresh virtualenv from
requirements.txt with the .python-version interpreter (bin/setup), then collectstatic with
build-time configuration only. Release: the Procfile's release command. Run: two web dynos on
one PostgreSQL (TLS only, as Heroku Postgres) and one Redis, driven with the router's headers.
"""

import json
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.dyno import ROOT, WebDyno, dyno_environment, router_headers, run_process

pytestmark = pytest.mark.slow

HOST = "herokuapp-rehearsal-0a1b2c3d4e5f.herokuapp.com"
VIEWS = 400
COUNT = re.compile(r"viewed <strong>([\d,]+)</strong>")
ADMIN = {"username": "rehearsal-admin", "password": "correct-horse-battery-staple-7", "email": "admin@example.com"}


@pytest.fixture(scope="module")
def slug(tmp_path_factory):
    """The build: what Heroku's Python buildpack makes of the committed tree."""
    app = tmp_path_factory.mktemp("slug") / "app"
    app.mkdir()
    archive = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", app], input=archive.stdout, check=True)
    subprocess.run(["bin/setup", "requirements.txt"], cwd=app, check=True, timeout=600)
    build_env = dyno_environment(bin_dir=app / ".venv" / "bin")  # no DYNO, no SECRET_KEY, no services
    built = subprocess.run(
        ["python", "manage.py", "collectstatic", "--noinput"],
        cwd=app,
        env=build_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    return app


def https(**headers):
    return router_headers(host=HOST) | headers


def shown_count(response):
    assert response.status_code == 200, response.status_code
    return int(COUNT.search(response.text).group(1).replace(",", ""))


def admin_login(dyno):
    """Log in to /admin/ over the emulated HTTPS, carrying the Secure cookies by hand."""
    form = dyno.get("/admin/login/?next=/admin/", headers=https())
    csrf_cookie = form.cookies["csrftoken"]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    login = dyno.post(
        "/admin/login/?next=/admin/",
        data={
            "username": ADMIN["username"],
            "password": ADMIN["password"],
            "csrfmiddlewaretoken": token,
            "next": "/admin/",
        },
        headers=https(
            Cookie=f"csrftoken={csrf_cookie}", Referer=f"https://{HOST}/admin/login/", Origin=f"https://{HOST}"
        ),
    )
    assert login.status_code == 302, login.text[:500]
    assert login.headers["Location"] == "/admin/"
    session = login.cookies["sessionid"]
    return dyno.get("/admin/", headers=https(Cookie=f"csrftoken={csrf_cookie}; sessionid={session}"))


def test_deploy_rehearsal(slug, cluster_database, redis_url):
    figures = {}
    env = dyno_environment(
        bin_dir=slug / ".venv" / "bin",
        SECRET_KEY="rehearsal-" + "k" * 60,
        # Like Heroku Postgres, the test-owned cluster refuses connections without TLS.
        DATABASE_URL=cluster_database.url,
        REDIS_URL=redis_url,
        WEB_CONCURRENCY=2,
    )

    release = run_process("release", env | {"DYNO": "release.1"}, root=slug)
    assert release.returncode == 0, release.stderr
    superuser = subprocess.run(
        ["python", "manage.py", "createsuperuser", "--noinput"],
        cwd=slug,
        capture_output=True,
        text=True,
        timeout=60,
        env=env | {"DYNO": "run.1"} | {f"DJANGO_SUPERUSER_{key.upper()}": value for key, value in ADMIN.items()},
    )
    assert superuser.returncode == 0, superuser.stderr

    dynos = [WebDyno(env | {"DYNO": f"web.{n}"}, root=slug).start() for n in (1, 2)]
    try:
        figures["boot_seconds"] = [round(dyno.boot_seconds, 2) for dyno in dynos]

        plain = dynos[0].get("/", headers=https(**{"X-Forwarded-Proto": "http"}))
        assert plain.status_code == 301
        assert plain.headers["Location"] == f"https://{HOST}/"

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            shown = list(pool.map(lambda n: shown_count(dynos[n % 2].get("/", headers=https())), range(VIEWS)))
        figures["views_sent"] = VIEWS
        figures["views_seconds"] = round(time.monotonic() - started, 2)
        assert sorted(shown) == list(range(1, VIEWS + 1)), "each view counted once, across both dynos"

        stylesheet = re.search(
            r'href="(/static/site\.[0-9a-f]{12}\.css)"', dynos[1].get("/", headers=https()).text
        ).group(1)
        css = dynos[1].get(stylesheet, headers=https(**{"Accept-Encoding": "br"}))
        assert css.status_code == 200
        assert css.headers["Content-Encoding"] == "br"
        assert "immutable" in css.headers["Cache-Control"]

        admin = admin_login(dynos[0])
        assert admin.status_code == 200
        assert "Site administration" in admin.text
        assert ADMIN["username"] in admin.text

        figures["exit_statuses"] = [dyno.stop() for dyno in dynos]
        assert figures["exit_statuses"] == [0, 0]
        with cluster_database.cluster.admin(cluster_database.name) as database:
            durable = database.execute("SELECT views FROM counter_counter WHERE name = 'index'").fetchone()[0]
        assert durable == VIEWS + 1, "the dynos flushed every view Redis held on their way out (SIGTERM)"
        dynos = [WebDyno(env | {"DYNO": f"web.{n}"}, root=slug).start() for n in (1, 2)]
        after_restart = shown_count(dynos[1].get("/", headers=https()))
        figures["views_counted"] = after_restart - 2  # less the view that found the stylesheet, and this one
        assert after_restart == VIEWS + 2, "the count survives both dynos restarting"
    finally:
        for dyno in dynos:
            dyno.kill()

    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "deploy-rehearsal.json").write_text(json.dumps(figures, indent=2) + "\n")
    print("deploy rehearsal:", json.dumps(figures))
