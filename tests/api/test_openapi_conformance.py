"""The REST API against its own OpenAPI schema (`/api/schema/`), fuzzed with schemathesis.

A real web process (deploy/web.sh: uvicorn) serves the test database; every operation is called
with generated valid and invalid input as an agent, a supervisor and a company admin, and every
schemathesis check runs on every answer: no server error, every status code and response body
as documented, invalid input refused, valid input accepted, authentication enforced.

Bounded and deterministic: a fixed seed, and a fixed number of generated examples per operation
(`RUNS`). The roles run in that order over one seeded world, the company admin last, as only
its writes (deleting users, changing policies) could take away what the other roles' runs need.
About 6,000 requests in all: a minute or two on an idle machine.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import httpx
import pytest
import redis
import schemathesis
import schemathesis.engine
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from schemathesis.engine import Status, events

from analytics import actions as analytics_actions
from analytics.importer import run_import
from routing_service.chats import actions, provisioning
from routing_service.chats.models import AssignmentStatus, ChatAssignment, Provider
from routing_service.tenancy import actions as tenancy_actions
from routing_service.tenancy.models import AgentStatus, Company, Role, User
from sla_engine.models import ChatSLA
from tests.analytics.conftest import csv_text, sessions
from tests.conftest import delete_run_keys
from tests.support.inbound import inbound_message
from tests.support.processes import child_env, serving_web, wait_for_other_sessions_to_end

# The served database is seeded once per module, outside any test transaction; the mark makes
# pytest-django set up the test database (it only does for sessions that ask for it).
pytestmark = pytest.mark.django_db

ROLES = (Role.AGENT, Role.SUPERVISOR, Role.COMPANY_ADMIN)
SEED = 20_251_103


@dataclass
class Served:
    base_url: str
    tokens: dict[str, str]
    log: IO[bytes]

    def server_log(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-20_000:]


def _user(company: Company, role: str, username: str, **kwargs: Any) -> User:
    return tenancy_actions.create_user(
        username=username, password="conformance-pw-123", role=role, company=company, **kwargs
    )


def _seed_company(company: Company, tag: str) -> dict[str, User]:
    """People, a channel, SLAs, chats (offered, accepted), notifications and imported
    sessions, all made through the product's own actions."""
    people = {
        Role.AGENT: _user(company, Role.AGENT, f"{tag}-agent", status=AgentStatus.AVAILABLE),
        Role.SUPERVISOR: _user(company, Role.SUPERVISOR, f"{tag}-supervisor"),
        Role.COMPANY_ADMIN: _user(company, Role.COMPANY_ADMIN, f"{tag}-admin"),
    }
    _user(company, Role.AGENT, f"{tag}-colleague", status=AgentStatus.AVAILABLE)
    _user(company, Role.VIEWER, f"{tag}-viewer")
    channel = provisioning.create_channel(
        company=company, name=f"{tag} web", provider=Provider.GENERIC, secret="s" * 32
    )
    for priority in ("low", "high"):
        ChatSLA.objects.create(
            company=company, priority=priority, first_response_minutes=5, resolution_minutes=60
        )
    results = [
        actions.receive_inbound_message(
            channel, inbound_message(f"{tag}-m{n}", f"{tag}-client{n}", f"help {n}")
        )
        for n in range(4)
    ]
    for offer in ChatAssignment.objects.unscoped().filter(
        conversation_id=results[0].conversation_id, status=AssignmentStatus.OFFERED
    ):
        actions.accept_assignment(offer.pk, offer.agent)
    source = analytics_actions.create_data_source(
        company=company,
        upload=SimpleUploadedFile(
            "sessions.csv", csv_text(sessions(f"{tag}-s1", f"{tag}-s2")).encode()
        ),
    )
    run_import(source.pk)
    return people


def _seed() -> dict[str, str]:
    """Two companies' worlds; the tokens of company A's people by role."""
    people = _seed_company(tenancy_actions.create_company("Acme Conformance", "acme-c"), "acme")
    _seed_company(tenancy_actions.create_company("Globex Conformance", "globex-c"), "globex")
    return {role: Token.objects.create(user=user).key for role, user in people.items()}


@pytest.fixture(scope="module")
def served(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """The web process on the seeded test database, for the module; the database is emptied
    afterwards (the seeded rows are committed, outside any test transaction).

    The run starts from nothing — tables emptied with their id sequences, this run's Redis
    keys deleted — so the same seed meets the same ids and generates the same requests."""
    media = tmp_path_factory.mktemp("conformance-media")
    with django_db_blocker.unblock(), tempfile.TemporaryFile() as log:
        try:
            call_command("flush", interactive=False, verbosity=0, reset_sequences=True)
            with redis.Redis.from_url(settings.REDIS_URL) as client:
                delete_run_keys(client)
            tokens = _seed()
            with serving_web(child_env(MEDIA_ROOT=str(media)), log=log) as (port, _):
                yield Served(f"http://127.0.0.1:{port}", tokens, log)
        finally:
            wait_for_other_sessions_to_end()
            call_command("flush", interactive=False, verbosity=0)


# `positive_data_acceptance` wants schema-valid input accepted. Query strings are described
# exactly, so reads must accept whatever their schema allows. A body, though, names other rows
# (`company`, agents), unique values (usernames, one SLA per priority) and rules across fields
# (`to_agent_id` or `to_queue`, time zones, escalation steps) that a JSON Schema cannot state:
# writes may answer 400 with the fields at fault (`response_schema_conformance` checks that
# shape). A few reads carry such a rule too, named here.
ACCEPTED_WITH_400 = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]
RULE_BOUND_OPERATIONS: list[dict[str, Any]] = [
    {"include-method": ["POST", "PUT", "PATCH", "DELETE"]},
    {"include-path": "/api/v1/auth/token/"},  # credentials that do not exist (400, as DRF)
    {"include-path": "/api/v1/metrics/daily/"},  # at most 366 days from `from` to `to`
    # At most 400 days from `from` to `to`, and `from` not after `to`.
    {"include-path": "/api/v1/metrics/intervals/"},
    {"include-path": "/api/v1/metrics/intervals.csv"},
]

# Per role: the phases to run and the examples the fuzzing phase generates per operation. The
# company admin reaches every operation, so it runs every phase, the coverage phase's boundary
# and invalid values included (two thirds of all requests); the other roles mostly meet
# refusals, which fewer fuzzed examples and the stateful phase cover.
RUNS: dict[str, tuple[list[str], int]] = {
    Role.COMPANY_ADMIN: (["examples", "coverage", "fuzzing", "stateful"], 10),
    Role.SUPERVISOR: (["examples", "fuzzing", "stateful"], 5),
    Role.AGENT: (["examples", "fuzzing", "stateful"], 5),
}


def _config(token: str, phases: list[str], max_examples: int) -> schemathesis.Config:
    accept_400 = {"positive_data_acceptance": {"expected-statuses": ACCEPTED_WITH_400}}
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "headers": {"Authorization": f"Token {token}"},
            "generation": {"max-examples": max_examples},
            "phases": {
                phase: {"enabled": phase in phases}
                for phase in ("examples", "coverage", "fuzzing", "stateful")
            },
            "operations": [
                *({**match, "checks": accept_400} for match in RULE_BOUND_OPERATIONS),
                # It ends the run's own token: every later request would be a 401
                # (tests/api/test_token_revocation.py covers it).
                {"include-path": "/api/v1/auth/token/revoke/", "enabled": False},
            ],
            "request-timeout": 30,
            "workers": 1,
            "cache": {"enabled": False},  # no replay of an earlier run's findings
        }
    )


def _failures(schema: Any) -> tuple[list[str], int]:
    """Run the enabled phases as `st run` does; each failed check, once per operation, check
    and kind, with the request that reproduces it and the answer; and how many cases ran."""
    failures: dict[tuple[str, str, str], str] = {}
    cases = 0
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            cases += len(recorder.cases)
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    info = check.failure_info
                    if check.status != Status.FAILURE or info is None:
                        continue
                    interaction = recorder.interactions.get(case_id)
                    answer = interaction.response if interaction is not None else None
                    body = answer.content[:300].decode(errors="replace") if answer else ""
                    failures.setdefault(
                        (recorder.label, check.name, info.failure.title),
                        f"{recorder.label} [{check.name}] {info.failure.title}: "
                        f"{info.failure.message}\n{info.code_sample}\n"
                        f"-> {answer.status_code if answer else '-'} {body}",
                    )
        elif isinstance(event, events.NonFatalError | events.FatalError):
            failures.setdefault(("error", str(event.id), ""), f"schemathesis error: {event!r}")
        elif isinstance(event, events.EngineFinished):
            for failure in event.failures:
                key = ("after run", failure.title, failure.message)
                failures[key] = f"{failure.title}: {failure.message}"
    return list(failures.values()), cases


@pytest.mark.timeout(900)
@pytest.mark.parametrize("role", ROLES)
def test_every_operation_answers_as_its_schema_says(served: Served, role: str) -> None:
    # The schema is for staff (API_DOCS_ACCESS); the run itself goes as `role`.
    raw = httpx.get(
        f"{served.base_url}/api/schema/?format=json",
        headers={"Authorization": f"Token {served.tokens[Role.COMPANY_ADMIN]}"},
        timeout=30,
    )
    raw.raise_for_status()
    config = _config(served.tokens[role], *RUNS[role])
    schema = schemathesis.openapi.from_dict(raw.json(), config=config)
    schema.config.update(base_url=served.base_url)
    failures, cases = _failures(schema)
    assert cases > len(schema.raw_schema["paths"])  # every operation was called
    assert not failures, f"{len(failures)} failures:\n\n" + "\n\n".join(failures)


def test_the_fuzzed_server_logged_no_error(served: Served) -> None:
    """Runs after the fuzzing above (file order): a 500 that a check let through would still
    have left a traceback."""
    log = served.server_log()
    assert "Traceback" not in log, log
