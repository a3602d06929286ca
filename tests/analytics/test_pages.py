"""The analytics pages and the chat dashboard: who may open them, company isolation, uploads,
search, the import report and the exports."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from analytics import importer
from analytics.models import ChatResponseTracking, ChatSession, Dashboard, DataSource
from routing_service.tenancy.actions import create_user
from routing_service.tenancy.models import Company, Role, User
from tests.analytics.conftest import csv_text
from tests.analytics.sample import import_sessions, make_chats, session_rows, write_rollups

pytestmark = pytest.mark.django_db


@pytest.fixture
def data_a(company_a: Company, admin_a: User) -> dict[str, Any]:
    source = import_sessions(company_a, session_rows("a"), name="acme.csv", created_by=admin_a)
    dashboard = Dashboard.objects.create(company=company_a, name="Acme billing", last_days=30)
    dashboard.data_sources.set([source])
    session = ChatSession.objects.for_company(company_a).get(session_id="a-1")
    return {"source": source, "dashboard": dashboard, "session": session}


@pytest.fixture
def data_b(company_b: Company, admin_b: User) -> dict[str, Any]:
    source = import_sessions(company_b, session_rows("b"), name="globex.csv")
    dashboard = Dashboard.objects.create(company=company_b, name="Globex secret board")
    session = ChatSession.objects.for_company(company_b).get(session_id="b-1")
    return {"source": source, "dashboard": dashboard, "session": session}


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def analytics_urls(data: dict[str, Any]) -> list[str]:
    return [
        reverse("analytics:overview"),
        reverse("analytics:dashboards"),
        reverse("analytics:dashboard", args=[data["dashboard"].pk]),
        reverse("analytics:dashboard-create"),
        reverse("analytics:dashboard-edit", args=[data["dashboard"].pk]),
        reverse("analytics:data-sources"),
        reverse("analytics:data-source", args=[data["source"].pk]),
        reverse("analytics:sessions"),
        reverse("analytics:session", args=[data["session"].pk]),
    ]


READ_ONLY = {"dashboard-create", "dashboard-edit"}


# --- roles ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.VIEWER, Role.SUPERVISOR, Role.COMPANY_ADMIN])
def test_analytics_pages_open_for_company_roles(
    role: str, make_user: Callable[..., User], company_a: Company, data_a: dict[str, Any]
) -> None:
    client = client_for(make_user(company_a, role))
    for url in analytics_urls(data_a):
        response = client.get(url)
        if role == Role.VIEWER and ("/new/" in url or "/edit/" in url):
            assert response.status_code == 403, url
            assert b"Not allowed" in response.content
        else:
            assert response.status_code == 200, url
            assert b"Acme Support" in response.content


def test_superadmin_picks_the_company_and_links_carry_it(
    superadmin: User, company_a: Company, company_b: Company, data_a: dict[str, Any]
) -> None:
    client = client_for(superadmin)
    chooser = client.get(reverse("analytics:overview"))
    assert chooser.status_code == 200
    assert b"Choose a company" in chooser.content
    assert f"?company={company_a.pk}".encode() in chooser.content
    assert f"?company={company_b.pk}".encode() in chooser.content
    for url in analytics_urls(data_a):
        response = client.get(url, {"company": company_a.pk})
        assert response.status_code == 200, url
        assert f"company={company_a.pk}".encode() in response.content  # links keep the company
    assert client.get(reverse("analytics:overview"), {"company": 999999}).status_code == 404
    assert client.get(reverse("analytics:overview"), {"company": "x"}).status_code == 404


def test_superadmin_sees_a_company_only_through_that_company(
    superadmin: User, company_b: Company, data_a: dict[str, Any]
) -> None:
    client = client_for(superadmin)
    response = client.get(
        reverse("analytics:session", args=[data_a["session"].pk]), {"company": company_b.pk}
    )
    assert response.status_code == 404


def test_agent_gets_a_readable_403_everywhere(agent_a: User, data_a: dict[str, Any]) -> None:
    client = client_for(agent_a)
    urls = [
        *analytics_urls(data_a),
        reverse("chat-dashboard:index"),
        reverse("chat-dashboard:metrics-export"),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 403, url
        assert b"Not allowed" in response.content
        assert b"Agent" in response.content  # says which role was refused
    assert client.get(reverse("analytics:sessions-export")).status_code == 403


def test_anonymous_is_sent_to_log_in(data_a: dict[str, Any]) -> None:
    client = Client()
    for url in [*analytics_urls(data_a), reverse("chat-dashboard:index")]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.COMPANY_ADMIN, Role.SUPERADMIN])
def test_chat_dashboard_opens_for_supervisors_and_admins(
    role: str, make_user: Callable[..., User], company_a: Company, redis_client: object
) -> None:
    chats = make_chats(company_a, "acme")
    write_rollups(company_a, chats.agents, range(3, 10))
    user = make_user(None if role == Role.SUPERADMIN else company_a, role)
    params = {"company": company_a.pk} if role == Role.SUPERADMIN else {}
    response = client_for(user).get(reverse("chat-dashboard:index"), params)
    assert response.status_code == 200
    body = response.content.decode()
    assert "SLA compliance per day" in body
    assert "Agent1 ACME" in body and "Agent2 ACME" in body
    assert f"#{chats.overdue.pk}" in body  # the open chat past its first-response due time
    assert f"#{chats.missed.pk}" in body  # recently missed
    assert f"#{chats.waiting_urgent.pk}" in body  # in the queue
    assert 'id="sla-data"' in body


def test_chat_dashboard_refuses_viewers(viewer_a: User) -> None:
    response = client_for(viewer_a).get(reverse("chat-dashboard:index"))
    assert response.status_code == 403
    assert b"Not allowed" in response.content


# --- company isolation ------------------------------------------------------------------------


def test_another_companys_objects_are_not_found(
    admin_a: User, data_a: dict[str, Any], data_b: dict[str, Any]
) -> None:
    client = client_for(admin_a)
    foreign = [
        reverse("analytics:dashboard", args=[data_b["dashboard"].pk]),
        reverse("analytics:dashboard-edit", args=[data_b["dashboard"].pk]),
        reverse("analytics:data-source", args=[data_b["source"].pk]),
        reverse("analytics:session", args=[data_b["session"].pk]),
    ]
    for url in foreign:
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"Globex" not in response.content
    delete = client.post(reverse("analytics:dashboard-delete", args=[data_b["dashboard"].pk]))
    assert delete.status_code == 404
    assert Dashboard.objects.unscoped().filter(pk=data_b["dashboard"].pk).exists()


def test_pages_show_only_the_companys_data(
    admin_a: User, data_a: dict[str, Any], data_b: dict[str, Any]
) -> None:
    client = client_for(admin_a)
    search = client.get(reverse("analytics:sessions"), {"q": "refund"}).content.decode()
    assert "a-1" in search and "a-6" in search
    assert "b-1" not in search
    listing = client.get(reverse("analytics:data-sources")).content.decode()
    assert "acme.csv" in listing and "globex.csv" not in listing
    boards = client.get(reverse("analytics:dashboards")).content.decode()
    assert "Acme billing" in boards and "Globex secret board" not in boards
    overview = client.get(reverse("analytics:overview"))
    assert overview.context["totals"]["sessions"] == 5  # a-6 is 60 days old


def test_dashboard_form_offers_only_own_data_sources(
    admin_a: User, data_a: dict[str, Any], data_b: dict[str, Any]
) -> None:
    client = client_for(admin_a)
    form = client.get(reverse("analytics:dashboard-create")).content.decode()
    assert "acme.csv" in form and "globex.csv" not in form
    response = client.post(
        reverse("analytics:dashboard-create"),
        {"name": "Sneaky", "data_sources": [data_b["source"].pk], "last_days": 30},
    )
    assert response.status_code == 400
    assert not Dashboard.objects.unscoped().filter(name="Sneaky").exists()


def test_session_export_contains_only_the_companys_sessions_escaped(
    admin_a: User, data_a: dict[str, Any], data_b: dict[str, Any]
) -> None:
    response = client_for(admin_a).get(reverse("analytics:sessions-export"), {"country": "FR"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["session_id"] for row in rows] == ["a-2"]
    assert rows[0]["initial_msg"].startswith("'=HYPERLINK")


def test_superadmin_export_is_scoped_to_the_chosen_company(
    superadmin: User, company_a: Company, data_a: dict[str, Any], data_b: dict[str, Any]
) -> None:
    response = client_for(superadmin).get(
        reverse("analytics:sessions-export"), {"company": company_a.pk}
    )
    text = b"".join(response.streaming_content).decode()
    assert "a-1" in text and "b-1" not in text


# --- metrics export -------------------------------------------------------------------------


def test_metrics_export_escapes_formula_cells_and_isolates_companies(
    admin_a: User, company_a: Company, company_b: Company
) -> None:
    evil = create_user(
        username="+evil",
        password="pw-123456",
        role=Role.AGENT,
        company=company_a,
        first_name='=HYPERLINK("http://x";"click")',
        last_name="@SUM(A1)",
    )
    other = create_user(
        username="globex-agent", password="pw-1234567", role=Role.AGENT, company=company_b
    )
    write_rollups(company_a, [evil], range(1, 3))
    write_rollups(company_b, [other], range(1, 3))
    response = client_for(admin_a).get(reverse("chat-dashboard:metrics-export"))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="chat-metrics-')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 4  # two days, a company row and an agent row each
    assert {row["scope"] for row in rows} == {"company", "agent"}
    agent_rows = [row for row in rows if row["scope"] == "agent"]
    assert all(row["agent_username"] == "'+evil" for row in agent_rows)
    assert all(row["agent_name"].startswith("'=HYPERLINK") for row in agent_rows)
    assert "globex-agent" not in str(rows)
    assert rows[0]["sla_compliance_rate"] == "0.8"


def test_metrics_export_company_rows_only_and_bad_range(admin_a: User, company_a: Company) -> None:
    write_rollups(company_a, [admin_a], range(1, 3))
    client = client_for(admin_a)
    response = client.get(reverse("chat-dashboard:metrics-export"), {"agents": "0"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {row["scope"] for row in rows} == {"company"}
    bad = client.get(reverse("chat-dashboard:metrics-export"), {"date_from": "yesterday"})
    assert bad.status_code == 400
    assert ChatResponseTracking.objects.count() == 4


# --- uploads and the import report -------------------------------------------------------


def _post_upload(client: Client, content: bytes, name: str = "upload.csv", **extra: str) -> Any:
    upload = SimpleUploadedFile(name, content, content_type="text/csv")
    return client.post(reverse("analytics:data-sources"), {"name": "", "file": upload, **extra})


def test_upload_stores_the_file_and_shows_the_report_after_import(
    supervisor_a: User, company_a: Company
) -> None:
    client = client_for(supervisor_a)
    rows = [
        {"session_id": "u1"},
        {"session_id": "u2", "sentiment": "Ecstatic"},
        {"session_id": "u1"},
    ]
    response = _post_upload(client, csv_text(rows).encode(), "march.csv")
    assert response.status_code == 302
    source = DataSource.objects.for_company(company_a).get()
    assert response["Location"] == reverse("analytics:data-source", args=[source.pk])
    assert source.name == "march.csv"
    assert source.status == DataSource.Status.PENDING
    assert source.created_by == supervisor_a
    pending = client.get(response["Location"]).content.decode()
    assert "Waiting for a worker" in pending

    importer.run_import(source.pk)
    report = client.get(response["Location"]).content.decode()
    assert "Done" in report
    assert 'data-field="rows_imported">1<' in report
    assert 'data-field="rows_rejected">1<' in report
    assert 'data-field="duplicates">1<' in report
    assert "Rejected rows" in report
    assert "sentiment" in report and "Ecstatic" in report
    assert '<td class="num">3</td>' in report  # the line of the bad row


def test_upload_with_missing_columns_reports_them(supervisor_a: User, company_a: Company) -> None:
    client = client_for(supervisor_a)
    response = _post_upload(client, b"session_id,start_time\nS1,2024-03-01 10:00:00\n")
    source = DataSource.objects.for_company(company_a).get()
    importer.run_import(source.pk)
    page = client.get(response["Location"]).content.decode()
    assert "The file could not be imported." in page
    assert "missing columns: end_time" in page


def test_upload_refuses_a_file_that_is_too_big(
    supervisor_a: User, company_a: Company, settings: Any
) -> None:
    settings.CSV_IMPORT_MAX_BYTES = 2048
    response = _post_upload(client_for(supervisor_a), b"x" * 5000)
    assert response.status_code == 413
    assert "The file is too large: the limit is 2048 bytes" in response.content.decode()
    assert not DataSource.objects.for_company(company_a).exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("book.xlsx", b"PK\x03\x04" + b"\x00" * 100, "Excel/OpenDocument workbook, not a CSV"),
        ("report.pdf", b"%PDF-1.7 ...", "a PDF document"),
        ("notes.doc", b"plain words", "upload a .csv file"),
        ("data.csv", b"a,b\x00c", "not a text file"),
    ],
)
def test_upload_refuses_what_is_not_csv(
    supervisor_a: User, company_a: Company, name: str, content: bytes, message: str
) -> None:
    response = _post_upload(client_for(supervisor_a), content, name)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not DataSource.objects.for_company(company_a).exists()


def test_upload_without_a_file_says_so(supervisor_a: User) -> None:
    response = client_for(supervisor_a).post(reverse("analytics:data-sources"), {"name": "x"})
    assert response.status_code == 400
    assert "Choose a CSV file to upload." in response.content.decode()


def test_viewer_cannot_upload(viewer_a: User, company_a: Company) -> None:
    client = client_for(viewer_a)
    page = client.get(reverse("analytics:data-sources")).content.decode()
    assert "Upload a CSV" not in page
    response = _post_upload(client, csv_text([{}]).encode())
    assert response.status_code == 403
    assert not DataSource.objects.for_company(company_a).exists()


def test_upload_needs_the_csrf_token(supervisor_a: User, company_a: Company) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(supervisor_a)
    response = _post_upload(client, csv_text([{}]).encode())
    assert response.status_code == 403
    assert not DataSource.objects.for_company(company_a).exists()


def test_superadmin_uploads_for_the_chosen_company(
    superadmin: User, company_a: Company, company_b: Company
) -> None:
    client = client_for(superadmin)
    url = f"{reverse('analytics:data-sources')}?company={company_b.pk}"
    upload = SimpleUploadedFile("g.csv", csv_text([{}]).encode(), content_type="text/csv")
    response = client.post(url, {"file": upload})
    assert response.status_code == 302
    assert response["Location"].endswith(f"?company={company_b.pk}")
    assert DataSource.objects.for_company(company_b).get().name == "g.csv"
    assert not DataSource.objects.for_company(company_a).exists()


# --- dashboards, search and the session page ------------------------------------------------


def test_create_edit_and_delete_a_dashboard(admin_a: User, data_a: dict[str, Any]) -> None:
    client = client_for(admin_a)
    response = client.post(
        reverse("analytics:dashboard-create"),
        {
            "name": "Complaints",
            "data_sources": [data_a["source"].pk],
            "include_live": "on",
            "date_from": "",
            "date_to": "",
            "last_days": "7",
        },
    )
    assert response.status_code == 302
    dashboard = Dashboard.objects.get(name="Complaints")
    assert list(dashboard.data_sources.all()) == [data_a["source"]]
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert page.context["totals"]["sessions"] == 5

    edit = client.post(
        reverse("analytics:dashboard-edit", args=[dashboard.pk]),
        {
            "name": "Complaints",
            "date_from": "2024-03-02",
            "date_to": "2024-03-01",
            "last_days": "7",
        },
    )
    assert edit.status_code == 400
    assert "Must not be before the start date." in edit.content.decode()

    client.post(reverse("analytics:dashboard-delete", args=[dashboard.pk]))
    assert not Dashboard.objects.filter(pk=dashboard.pk).exists()


def test_dashboard_date_range_override(admin_a: User, data_a: dict[str, Any]) -> None:
    client = client_for(admin_a)
    wide = client.get(
        reverse("analytics:dashboard", args=[data_a["dashboard"].pk]),
        {"date_from": "2000-01-01"},
    )
    assert wide.context["totals"]["sessions"] == 6
    assert wide.context["data"]["series"]["bucket"] == "month"
    bad = client.get(reverse("analytics:overview"), {"date_from": "soon"})
    assert bad.status_code == 200
    assert "Enter a valid date." in bad.content.decode()


def test_search_filters_and_paginates(admin_a: User, data_a: dict[str, Any]) -> None:
    client = client_for(admin_a)

    def ids(params: dict[str, Any]) -> list[str]:
        response = client.get(reverse("analytics:sessions"), params)
        assert response.status_code == 200
        return [s.session_id for s in response.context["results"].sessions]

    assert ids({}) == ["a-2", "a-1", "a-3", "a-4", "a-5", "a-6"]
    assert ids({"q": "refund"}) == ["a-1", "a-6"]
    assert ids({"q": "password"}) == ["a-5"]
    assert ids({"country": "de"}) == ["a-1", "a-3", "a-5"]
    assert ids({"sentiment": "Negative"}) == ["a-2", "a-5"]
    assert ids({"escalated": "true"}) == ["a-2", "a-5"]
    assert ids({"category": "billing", "rating_min": 5}) == ["a-1", "a-6"]
    assert ids({"language": "en", "rating_max": 4}) == ["a-4"]
    assert ids({"data_source": data_a["source"].pk, "forwarded_hr": "true"}) == ["a-2"]
    bad = client.get(reverse("analytics:sessions"), {"date_from": "never"})
    assert bad.status_code == 400
    assert "Enter a date" in bad.content.decode()


def test_search_pages(admin_a: User, company_a: Company, monkeypatch: pytest.MonkeyPatch) -> None:
    import analytics.browse

    monkeypatch.setattr(analytics.browse, "PAGE_SIZE", 2)
    import_sessions(company_a, session_rows("p"))
    client = client_for(admin_a)
    first = client.get(reverse("analytics:sessions"), {"q": "", "country": "DE"})
    results = first.context["results"]
    assert (results.count, results.num_pages, results.has_next) == (3, 2, True)
    assert "country=DE&amp;page=2" in first.content.decode()
    second = client.get(reverse("analytics:sessions"), {"country": "DE", "page": 2})
    assert [s.session_id for s in second.context["results"].sessions] == ["p-5"]
    beyond = client.get(reverse("analytics:sessions"), {"country": "DE", "page": 99})
    assert beyond.context["results"].page == 2


def test_session_page_shows_transcript_and_metrics(viewer_a: User, data_a: dict[str, Any]) -> None:
    session = ChatSession.objects.get(session_id="a-2")
    page = client_for(viewer_a).get(reverse("analytics:session", args=[session.pk]))
    body = page.content.decode()
    assert "I am very unhappy" in body and "Sorry to hear that." in body
    assert "turn customer" in body and "turn agent" in body
    assert "=HYPERLINK(&quot;http://evil.example&quot;)" in body  # escaped, shown as text
    assert "Negative" in body and "complaint" in body and "30 s" in body
    assert "acme.csv" in body


def test_dashboard_queries_do_not_grow_with_sessions(
    admin_a: User,
    company_a: Company,
    data_a: dict[str, Any],
    django_assert_max_num_queries: Any,
) -> None:
    client = client_for(admin_a)
    client.get(reverse("analytics:overview"))  # warm up: session, user, the first roll-up
    with django_assert_max_num_queries(16):
        client.get(reverse("analytics:overview"))
    import_sessions(company_a, [{"session_id": f"more-{i}"} for i in range(50)], "more.csv")
    client.get(reverse("analytics:overview"))  # rolls the new file up, once
    with django_assert_max_num_queries(16):
        client.get(reverse("analytics:overview"))
    with django_assert_max_num_queries(16):
        client.get(reverse("analytics:dashboard", args=[data_a["dashboard"].pk]))
