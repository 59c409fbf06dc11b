"""Fuzzing the counter API (counter.web.api, counter.features.named) from the OpenAPI document it serves at
/api/v1/openapi.json (counter/web/openapi.json), so that the document and the API cannot drift apart.

schemathesis loads the document from the production WSGI application and generates requests for
every operation: requests that fit the document, and requests that break it. Every answer must be
one the document promises: never a 5xx, a documented status code and content type, and a body that
fits the documented schema; and a request that fits the document must not be turned away (a 400
for a value the document allows is a bug of the API or of the document). A second test follows the
document's links (create a counter, then read, hit, export, reset and delete it with the admin
token its creation returned), which reaches what random names alone never do: real counters and
real tokens.

What a creation's history must be beyond its schema (distinct days before today, visitors no more
than views, a value at least their views) JSON Schema cannot say: a request that fits the document
is made to fit these too before it is sent, as a client following the document's descriptions
would send it, so that a 400 for it is still a failure.

Requests come in as Heroku's router forwards them: over HTTPS (X-Forwarded-Proto) to an allowed
host, or production settings would answer every one with a redirect. Each test sends a bounded
number of requests, derandomized so that every run tries the same ones, with each counter backend.
"""

import collections
import datetime
import warnings

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from counter.features import history
from counter.models import NamedCounter

with warnings.catch_warnings():
    # WhiteNoise warns that STATIC_ROOT is missing: the suite's build fixture collects static files
    # only once tests start, after this module is imported. The API serves no static file.
    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    from herokuapp.wsgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("backend")]

ROUTER = {"Host": "localhost", "X-Forwarded-Proto": "https"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    positive_data_acceptance,
]
CONFIG = schemathesis.Config.from_dict(
    {
        # What may answer a request that fits the document: 413 too, as the document says of bodies over
        # 1024 bytes, 256 KiB for a creation (which its schemas cannot say); 5xx are not_a_server_error's
        # to catch.
        "checks": {
            "positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "409", "413", "429"]}
        },
    }
)
BOUNDED = settings(
    max_examples=50,
    derandomize=True,
    database=None,
    deadline=None,
    # The checks are the point here, not how much generated data schemathesis filters out.
    suppress_health_check=list(HealthCheck),
)

MAX_VALUE = 10**15

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application, config=CONFIG, headers=ROUTER)


def as_described(case):
    """A creation that fits the document, with its history made to fit the descriptions too: one
    day each, yesterday and back; visitors no more than views; a value at least their sum."""
    body = case.body
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if not positive or not isinstance(body, dict) or not body.get("history"):
        return
    room = MAX_VALUE
    for back, day in enumerate(body["history"], start=1):
        day["day"] = (history.today() - datetime.timedelta(days=back)).isoformat()
        day["views"] = min(day["views"], room)
        day["visitors"] = min(day["visitors"], day["views"])
        room -= day["views"]
    body["value"] = max(body.get("value", 0), MAX_VALUE - room)


@schema.parametrize()
@BOUNDED
def test_every_operation_answers_any_request_as_documented_and_never_with_a_server_error(case):
    as_described(case)
    case.call_and_validate(headers=ROUTER, checks=CHECKS)


class FollowTheLinks(schema.as_state_machine()):
    """Chains of calls along the document's links, each checked as above; each chain starts with
    no counters, as the ones before it left them would change what it finds."""

    answers = collections.Counter()

    def setup(self):
        NamedCounter.objects.all().delete()

    def before_call(self, case):
        as_described(case)

    def get_call_kwargs(self, case):
        return {"headers": ROUTER}

    def validate_response(self, response, case, additional_checks=None, **kwargs):
        FollowTheLinks.answers[case.operation.label, response.status_code] += 1
        if case.operation.label == "POST /api/v1/counters" and isinstance(case.body, dict) and case.body.get("history"):
            FollowTheLinks.answers["a creation with a history", response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=ROUTER, transport_kwargs=kwargs)


@pytest.fixture
def limits_out_of_reach(settings):
    """The chains are one client creating a counter per chain: limits meant for the public would
    answer most of them 429 before they reach a reset (test_rate_limits.py holds the limits)."""
    settings.COUNTER_CREATIONS_PER_HOUR = settings.COUNTER_API_REQUESTS_PER_MINUTE = 1_000_000


@pytest.mark.usefixtures("limits_out_of_reach")
def test_created_counters_can_be_read_hit_exported_reset_and_deleted_as_documented():
    FollowTheLinks.answers.clear()
    # Generation only, as schemathesis runs its own chains: shrinking a failing chain replays it
    # against counts that the first run changed.
    FollowTheLinks.run(settings=settings(BOUNDED, max_examples=60, stateful_step_count=6, phases=[Phase.generate]))
    reached = {answer for answer, count in FollowTheLinks.answers.items() if count}
    # The links carried the admin token: the chains reset and deleted the counters they created.
    assert ("POST /api/v1/counters/{namespace}/{key}/reset", 200) in reached
    assert ("DELETE /api/v1/counters/{namespace}/{key}", 204) in reached
    # Chains created counters with a history, and exported counters.
    assert ("a creation with a history", 201) in reached
    assert ("GET /api/v1/counters/{namespace}/{key}/export", 200) in reached
