"""The services' HTTP APIs fuzzed against their own OpenAPI documents on the real stack: valid
and invalid requests generated from each operation's parameters and body, and every answer
checked: never a 5xx, its status code, content type and body as the document says.

The number of examples is bounded (FUZZ_EXAMPLES per operation and mode) so the suite stays
fast; `FUZZ_EXAMPLES=500` runs a longer search by hand. POST /subscribers sends real e-mails to
the SMTP sink and is rate-limited per client (a 429 is a documented answer).

Every request carries an administrator's token, so the fuzzer reaches the handlers of locked
routes too (the locks themselves are tested route by route and caller by caller in
tests/middle/test_route_access.py). A token is minted for each request at the time of the
service that judges it: the test stack moves booking's clock. A door's refusal of that token (a
403, or a 401 with its challenge) fails the test: the fuzzing stopped at the door. A 401 without
a challenge is a route's own answer to the credentials the request carries (identity: a wrong
password or device secret), which the fuzzer is meant to try. The routes that take identity's
session cookie alone (`/token`, `/session`) cannot be opened with a token; they take no input
either, so they are left to tests/middle/test_identity_staff.py, which signs in.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import BaseSchema, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.transport import Response
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from contracts.identity import Role
from tests.identity_support import http_headers, staff_token
from tests.support import System, client_address

pytestmark = pytest.mark.stack

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))
# Answers as documented, whatever the input; and invalid input (a UUID that is not one, a day
# that is not a day, a missing parameter) refused with a 4xx rather than accepted.
CHECKS = {
    GenerationMode.POSITIVE: [not_a_server_error, status_code_conformance,
                              content_type_conformance, response_schema_conformance],
    GenerationMode.NEGATIVE: [not_a_server_error, status_code_conformance,
                              content_type_conformance, response_schema_conformance,
                              negative_data_rejection],
}  # fmt: skip
# Real services answer in milliseconds, but a busy machine may take longer: no deadline. The
# generated parameters are narrow by design (enums, UUIDs), so the health checks about filtered
# or slow generation do not apply. The same examples on every run: a failure can be run again.
FUZZING = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=True,
)


def session_only(operation: APIOperation[Any, Any, Any, Any]) -> bool:
    """The operation demands proof and takes no bearer token: only a session cookie opens it."""
    security = operation.definition.raw.get("security") or []
    return bool(security) and {} not in security and all("bearer" not in s for s in security)


def refused_at_the_door(response: Response) -> bool:
    """A door's refusal: a 403, or a 401 that challenges the caller for proof (RFC 9110 11.6.1;
    every door's 401 carries `WWW-Authenticate`)."""
    return response.status_code == 403 or (
        response.status_code == 401 and "www-authenticate" in response.headers
    )


def failures(schema: BaseSchema, mode: GenerationMode) -> list[str]:
    """Every operation fuzzed in turn, each request with an administrator's token; what each
    found, so one run reports them all."""
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if session_only(operation):
            # nothing is left unexplored behind this door: it takes no input
            assert not list(operation.iter_parameters()), operation.label
            assert not operation.body, operation.label
            continue

        @FUZZING
        @given(case=operation.as_strategy(mode))
        def fuzz(case: Case) -> None:
            # a new client for each case (the local proxy forwards its address): POST
            # /subscribers is rate-limited per client, and one address would leave its body
            # unexplored behind 429s (which test_http_hostile_input checks)
            client = {"X-Forwarded-For": client_address(),
                      **http_headers(staff_token(Role.ADMINISTRATOR))}  # fmt: skip
            response = case.call(headers=client, timeout=30)
            # an administrator passes every door: a refusal means the fuzzing stopped there
            assert not refused_at_the_door(response), (response.status_code, response.text)
            case.validate_response(response, checks=CHECKS[mode], headers=client)

        try:
            fuzz()
        except Unsatisfiable:  # nothing to make invalid: the operation takes no input
            assert mode is GenerationMode.NEGATIVE, operation.label
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis groups what it found
            found.append(f"{operation.label}: {exc}")
    return found


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("instance", ["booking-1", "notify", "identity"])
def test_the_api_answers_every_request_as_its_openapi_document_says(
    system: System, instance: str, mode: GenerationMode
) -> None:
    port = system.by_name[instance].http_port
    schema = schemathesis.openapi.from_url(f"http://127.0.0.1:{port}/openapi.json")
    # The token is the test's to give, not the fuzzer's to leave out: a request without it
    # would be refused at the lock, before anything the fuzzer generated is looked at.
    schema.config.generation.update(with_security_parameters=False)
    # A body over the services' limit is refused with 413 before it is parsed, whatever it
    # holds: for invalid data as right an answer as a 400 (the document lists it for every body).
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    operations = list(schema.get_all_operations())
    assert len(operations) >= 6
    found = failures(schema, mode)
    assert not found, "\n\n".join(found)
