"""What audit/run leaves behind: pinned tools that install on a fresh machine from any registry,
and results that the README quotes as they are."""

import json
import re
import statistics

import pytest

from tests.support.dyno import ROOT

AUDIT = ROOT / "audit"


@pytest.fixture(scope="module")
def results():
    return json.loads((AUDIT / "results.json").read_text())


@pytest.fixture(scope="module")
def readme_scores():
    """The README's table of the latest scores: {(tool, measure): score}."""
    section = (ROOT / "README.md").read_text().split("\n## Audit\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| ((?:Lighthouse|MDN HTTP Observatory) [\d.]+) \| ([^|]+) \| ([^|]+) \|", section, re.M)
    return {(tool, measure.strip()): score.strip() for tool, measure, score in rows}


def test_tools_are_pinned_to_exact_versions_lighthouse_12():
    dependencies = json.loads((AUDIT / "package.json").read_text())["dependencies"]
    assert set(dependencies) == {"lighthouse", "@mdn/mdn-http-observatory"}
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", version) for version in dependencies.values())
    assert dependencies["lighthouse"].startswith("12.")


def test_lock_names_every_package_by_hash_and_no_registry_address():
    lock = (AUDIT / "package-lock.json").read_text()
    packages = json.loads(lock)["packages"]
    installed = {name: package for name, package in packages.items() if name}
    assert installed
    assert all(package.get("integrity", "").startswith("sha512-") for package in installed.values())
    assert '"resolved"' not in lock


def test_install_scripts_stay_off():
    assert "ignore-scripts=true" in (AUDIT / ".npmrc").read_text().splitlines()


def test_results_name_no_path_of_the_machine_that_made_them(results):
    text = json.dumps(results)
    assert not re.search(r"/(root|home|work|tmp|usr|opt)/", text)


def test_results_hold_each_lighthouse_run_and_their_median(results):
    runs = results["lighthouse"]["runs"]
    assert len(runs) >= 3
    for category, median in results["lighthouse"]["median"].items():
        assert median == statistics.median(run[category] for run in runs)


def test_readme_shows_the_latest_lighthouse_scores(results, readme_scores):
    tool = f"Lighthouse {results['tools']['lighthouse']}"
    names = {
        "performance": "performance",
        "accessibility": "accessibility",
        "best-practices": "best practices",
        "seo": "SEO",
    }
    for category, name in names.items():
        assert readme_scores[(tool, name)] == str(round(results["lighthouse"]["median"][category] * 100))


def test_readme_shows_the_latest_observatory_grade_score_and_tests(results, readme_scores):
    tool = f"MDN HTTP Observatory {results['tools']['mdn-http-observatory']}"
    scan = results["observatory"]
    assert readme_scores[(tool, "grade")] == scan["grade"]
    assert readme_scores[(tool, "score")] == str(scan["score"])
    assert readme_scores[(tool, "tests passed")] == f"{scan['tests_passed']}/{scan['tests']}"
