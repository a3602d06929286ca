"""The analytics REST API: uploads (size limits, roles), data source reports, session list,
detail, filters, search and CSV export — always within the caller's company."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import AsyncClient, RequestFactory
from rest_framework.authtoken.models import Token
from rest_framework.test import force_authenticate

from analytics.api import DataSourceViewSet
from analytics.csv_parser import COLUMNS
from analytics.importer import run_import
from analytics.models import ChatSession, DataSource
from routing_service.tenancy.models import Company, User
from tests.analytics.conftest import csv_text, sessions

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.analytics.urls")]

ApiFor = Callable[[User | None], Any]
Upload = Callable[..., DataSource]

EXPORT_COLUMNS = (*COLUMNS, "labels")


def csv_file(content: str, name: str = "sessions.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content.encode(), content_type="text/csv")


def post_upload(client: Any, content: str, **fields: Any) -> Any:
    return client.post(
        "/api/v1/data-sources/", {"file": csv_file(content), **fields}, format="multipart"
    )


def export(client: Any, query: str = "") -> tuple[Any, list[list[str]]]:
    response = client.get(f"/api/v1/sessions/export.csv{query}")
    if response.status_code != 200:
        return response, []
    body = b"".join(response.streaming_content).decode()
    return response, list(csv.reader(io.StringIO(body)))


@pytest.fixture
def imported_a(upload: Upload, company_a: Company) -> DataSource:
    rows = [
        {
            "session_id": "A1",
            "start_time": "2024-03-01 09:00:00",
            "end_time": "2024-03-01 09:20:00",
            "country": "DE",
            "language": "de",
            "sentiment": "Positive",
            "escalated": "no",
            "category": "billing",
            "user_rating": "5",
            "initial_msg": "Where is my invoice?",
            "full_transcript": "Customer: Where is my invoice?\nAgent: It was emailed yesterday.",
        },
        {
            "session_id": "A2",
            "start_time": "2024-03-15 12:00:00",
            "end_time": "2024-03-15 12:30:00",
            "country": "FR",
            "language": "fr",
            "sentiment": "Negative",
            "escalated": "yes",
            "forwarded_hr": "yes",
            "category": "shipping",
            "user_rating": "1",
            "initial_msg": "Mon colis est perdu",
            "full_transcript": "Customer: parcel lost\nAgent: Opening a courier investigation.",
        },
        {
            "session_id": "A3",
            "start_time": "2024-03-31 23:30:00",
            "end_time": "2024-04-01 00:10:00",
            "country": "DE",
            "language": "en",
            "sentiment": "Neutral",
            "category": "billing",
            "user_rating": "3",
            "initial_msg": '=HYPERLINK("http://evil.example", "refund")',
            "full_transcript": "+49 30 1234\n-- signature",
        },
    ]
    source = upload(company_a, csv_text(rows), name="march.csv")
    run_import(source.pk)
    return source


@pytest.fixture
def imported_b(upload: Upload, company_b: Company) -> DataSource:
    rows = [
        {
            "session_id": "B1",
            "country": "DE",
            "initial_msg": "Where is my invoice?",
            "full_transcript": "Customer: invoice courier secret-of-b",
        }
    ]
    source = upload(company_b, csv_text(rows), name="globex.csv")
    run_import(source.pk)
    return source


# --- uploads and data sources -------------------------------------------------------------


def test_upload_stores_the_file_and_enqueues_the_import_after_commit(
    api: ApiFor,
    admin_a: User,
    company_a: Company,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[int] = []
    monkeypatch.setattr("analytics.tasks.import_data_source.send", sent.append)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_upload(api(admin_a), csv_text(sessions("S1", "S2")), name="March")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == {
        "id",
        "company",
        "name",
        "kind",
        "status",
        "rows_imported",
        "rows_rejected",
        "duplicates",
        "errors",
        "error",
        "bytes_total",
        "bytes_processed",
        "created_at",
        "started_at",
        "finished_at",
    }
    assert (body["name"], body["kind"], body["status"]) == ("March", "csv", "pending")
    assert body["company"] == company_a.pk
    assert body["bytes_total"] == len(csv_text(sessions("S1", "S2")))
    assert sent == [body["id"]]
    source = DataSource.objects.get(pk=body["id"])
    assert source.created_by == admin_a
    assert source.file.read() == csv_text(sessions("S1", "S2")).encode()


def test_upload_name_defaults_to_the_file_name(api: ApiFor, admin_a: User) -> None:
    response = post_upload(api(admin_a), csv_text(sessions("S1")))
    assert response.json()["name"] == "sessions.csv"


def test_the_report_is_served_with_the_data_source(
    api: ApiFor, supervisor_a: User, upload: Upload, company_a: Company
) -> None:
    source = upload(
        company_a, csv_text([{"session_id": "S1"}, {"session_id": "S2", "tokens": "x"}])
    )
    run_import(source.pk)
    body = api(supervisor_a).get(f"/api/v1/data-sources/{source.pk}/").json()
    assert (body["status"], body["rows_imported"], body["rows_rejected"]) == ("done", 1, 1)
    assert body["errors"] == [{"line": 3, "column": "tokens", "reason": "not a whole number: 'x'"}]
    assert body["bytes_processed"] == body["bytes_total"]


def test_upload_without_a_file_is_a_field_error(api: ApiFor, admin_a: User) -> None:
    response = api(admin_a).post("/api/v1/data-sources/", {"name": "x"}, format="multipart")
    assert response.status_code == 400
    assert "file" in response.json()


def test_oversize_upload_is_413_json_and_stores_nothing(
    api: ApiFor, admin_a: User, settings: Any, media_root: Any
) -> None:
    settings.CSV_IMPORT_MAX_BYTES = 2048
    response = post_upload(api(admin_a), csv_text(sessions(*(f"S{n}" for n in range(40)))))
    assert response.status_code == 413
    assert response.json() == {"file": ["The file is too large: the limit is 2048 bytes (2.0 KB)."]}
    assert DataSource.objects.count() == 0
    assert not media_root.exists() or not any(media_root.rglob("*.csv"))


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(
    admin_a: User, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.CSV_IMPORT_MAX_BYTES = 2048
    request = RequestFactory().post(
        "/api/v1/data-sources/",
        data=b"not read",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(2048 + 64 * 1024 + 1),
    )
    force_authenticate(request, user=admin_a)

    def unreadable(*args: Any) -> None:
        raise AssertionError("the body was parsed")

    monkeypatch.setattr("rest_framework.request.Request._parse", unreadable)
    response = DataSourceViewSet.as_view({"post": "create"})(request)
    assert response.status_code == 413
    assert response.data == {"file": ["The file is too large: the limit is 2048 bytes (2.0 KB)."]}


def test_viewers_read_but_neither_upload_nor_delete(
    api: ApiFor, viewer_a: User, imported_a: DataSource
) -> None:
    client = api(viewer_a)
    assert client.get("/api/v1/data-sources/").json()["count"] == 1
    assert client.get(f"/api/v1/data-sources/{imported_a.pk}/").status_code == 200
    assert post_upload(client, csv_text(sessions("S1"))).status_code == 403
    assert client.delete(f"/api/v1/data-sources/{imported_a.pk}/").status_code == 403
    assert client.get("/api/v1/sessions/").json()["count"] == 3
    assert export(client)[0].status_code == 200


def test_agents_have_no_access_to_analytics(
    api: ApiFor, agent_a: User, imported_a: DataSource
) -> None:
    client = api(agent_a)
    session = ChatSession.objects.filter(data_source=imported_a).first()
    assert session is not None
    assert client.get("/api/v1/data-sources/").status_code == 403
    assert client.get(f"/api/v1/data-sources/{imported_a.pk}/").status_code == 403
    assert post_upload(client, csv_text(sessions("S1"))).status_code == 403
    assert client.get("/api/v1/sessions/").status_code == 403
    assert client.get(f"/api/v1/sessions/{session.pk}/").status_code == 403
    assert export(client)[0].status_code == 403


def test_anonymous_callers_are_refused(api: ApiFor) -> None:
    assert api(None).get("/api/v1/sessions/").status_code in {401, 403}
    assert api(None).get("/api/v1/sessions/export.csv").status_code in {401, 403}


def test_supervisor_deletes_a_data_source_with_its_sessions_and_file(
    api: ApiFor,
    supervisor_a: User,
    imported_a: DataSource,
    media_root: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    path = imported_a.file.path
    with django_capture_on_commit_callbacks(execute=True):
        response = api(supervisor_a).delete(f"/api/v1/data-sources/{imported_a.pk}/")
    assert response.status_code == 204
    assert not DataSource.objects.filter(pk=imported_a.pk).exists()
    assert not ChatSession.objects.filter(session_id__in=["A1", "A2", "A3"]).exists()
    assert not os.path.exists(path)


def test_the_live_feed_cannot_be_deleted(api: ApiFor, admin_a: User, company_a: Company) -> None:
    feed = DataSource.objects.create(
        company=company_a, name="Live conversations", kind=DataSource.Kind.LIVE
    )
    response = api(admin_a).delete(f"/api/v1/data-sources/{feed.pk}/")
    assert response.status_code == 409
    assert DataSource.objects.filter(pk=feed.pk).exists()


def test_superadmin_uploads_for_a_named_company(
    api: ApiFor, superadmin: User, company_b: Company
) -> None:
    client = api(superadmin)
    missing = post_upload(client, csv_text(sessions("S1")))
    assert missing.status_code == 400
    assert missing.json() == {"company": ["This field is required."]}
    response = post_upload(client, csv_text(sessions("S1")), company=company_b.pk)
    assert response.status_code == 201
    assert response.json()["company"] == company_b.pk


# --- company isolation --------------------------------------------------------------------


def test_company_a_never_sees_company_b_data(
    api: ApiFor, admin_a: User, imported_a: DataSource, imported_b: DataSource
) -> None:
    client = api(admin_a)
    session_b = ChatSession.objects.get(session_id="B1")
    listed = client.get("/api/v1/data-sources/").json()["results"]
    assert [row["id"] for row in listed] == [imported_a.pk]
    assert client.get(f"/api/v1/data-sources/{imported_b.pk}/").status_code == 404
    assert client.delete(f"/api/v1/data-sources/{imported_b.pk}/").status_code == 404
    assert DataSource.objects.filter(pk=imported_b.pk).exists()
    assert (
        client.get(f"/api/v1/data-sources/?company={imported_b.company_id}").json()["count"] == 1
    )  # ?company= is ignored for company staff: still only A's

    ids = {row["session_id"] for row in client.get("/api/v1/sessions/").json()["results"]}
    assert ids == {"A1", "A2", "A3"}
    assert client.get(f"/api/v1/sessions/{session_b.pk}/").status_code == 404
    assert client.get("/api/v1/sessions/?q=invoice").json()["count"] == 1
    assert client.get("/api/v1/sessions/?q=secret-of-b").json()["count"] == 0
    assert client.get(f"/api/v1/sessions/?data_source={imported_b.pk}").json()["count"] == 0
    _, rows = export(client)
    assert sorted(row[0] for row in rows[1:]) == ["A1", "A2", "A3"]
    _, rows = export(client, "?q=courier")
    assert [row[0] for row in rows[1:]] == ["A2"]


def test_superadmin_reads_every_company_or_one(
    api: ApiFor, superadmin: User, imported_a: DataSource, imported_b: DataSource
) -> None:
    client = api(superadmin)
    assert client.get("/api/v1/sessions/").json()["count"] == 4
    only_b = client.get(f"/api/v1/sessions/?company={imported_b.company_id}").json()
    assert [row["session_id"] for row in only_b["results"]] == ["B1"]


# --- sessions: list, detail, filters, search ------------------------------------------------


def test_session_list_is_paginated_newest_first_without_transcripts(
    api: ApiFor, viewer_a: User, imported_a: DataSource
) -> None:
    body = api(viewer_a).get("/api/v1/sessions/?page_size=2").json()
    assert body["count"] == 3
    assert body["next"] is not None
    assert [row["session_id"] for row in body["results"]] == ["A3", "A2"]
    assert "full_transcript" not in body["results"][0]
    assert body["results"][0]["initial_msg"].startswith("=HYPERLINK")


def test_session_detail_has_the_transcript(
    api: ApiFor, viewer_a: User, imported_a: DataSource
) -> None:
    session = ChatSession.objects.get(session_id="A2")
    body = api(viewer_a).get(f"/api/v1/sessions/{session.pk}/").json()
    assert (
        body["full_transcript"] == "Customer: parcel lost\nAgent: Opening a courier investigation."
    )
    assert (body["country"], body["sentiment"], body["escalated"]) == ("FR", "Negative", True)
    assert body["data_source"] == imported_a.pk


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("date_from=2024-03-15", ["A3", "A2"]),
        ("date_to=2024-03-15", ["A2", "A1"]),
        ("date_from=2024-03-02&date_to=2024-03-30", ["A2"]),
        ("date_to=2024-03-01T09:00:00Z", ["A1"]),
        ("date_from=2024-03-31T23:00:00%2B00:00", ["A3"]),
        ("country=de", ["A3", "A1"]),
        ("language=FR", ["A2"]),
        ("sentiment=Neutral", ["A3"]),
        ("category=billing", ["A3", "A1"]),
        ("escalated=true", ["A2"]),
        ("escalated=false", ["A3", "A1"]),
        ("forwarded_hr=true", ["A2"]),
        ("rating_min=3", ["A3", "A1"]),
        ("rating_max=3", ["A3", "A2"]),
        ("rating_min=2&rating_max=4", ["A3"]),
        ("country=DE&category=billing&rating_min=4", ["A1"]),
    ],
)
def test_session_filters(
    api: ApiFor, viewer_a: User, imported_a: DataSource, query: str, expected: list[str]
) -> None:
    body = api(viewer_a).get(f"/api/v1/sessions/?{query}").json()
    assert [row["session_id"] for row in body["results"]] == expected


def test_data_source_filter(
    api: ApiFor, viewer_a: User, imported_a: DataSource, upload: Upload, company_a: Company
) -> None:
    other = upload(company_a, csv_text(sessions("X1")))
    run_import(other.pk)
    body = api(viewer_a).get(f"/api/v1/sessions/?data_source={other.pk}").json()
    assert [row["session_id"] for row in body["results"]] == ["X1"]


@pytest.mark.parametrize(
    "query", ["date_from=yesterday", "rating_min=high", "sentiment=Angry", "escalated=perhaps"]
)
def test_bad_filter_values_are_field_errors(
    api: ApiFor, viewer_a: User, imported_a: DataSource, query: str
) -> None:
    response = api(viewer_a).get(f"/api/v1/sessions/?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("invoice", ["A1"]),  # first message and transcript
        ("INVOICE", ["A1"]),
        ("courier", ["A2"]),  # transcript only
        ("colis", ["A2"]),  # first message only
        ("parcel investigation", ["A2"]),  # every word
        ("parcel invoice", []),
        ('"courier investigation"', ["A2"]),  # phrase
        ("invoice or parcel", ["A2", "A1"]),
        ("emailed -invoice", []),
        ("nothing-like-this", []),
        ("   ", ["A3", "A2", "A1"]),  # blank: no filter
    ],
)
def test_search_finds_words_in_transcripts_and_first_messages(
    api: ApiFor, viewer_a: User, imported_a: DataSource, q: str, expected: list[str]
) -> None:
    body = api(viewer_a).get("/api/v1/sessions/", {"q": q}).json()
    assert [row["session_id"] for row in body["results"]] == expected


def test_search_follows_a_rewritten_transcript(
    api: ApiFor, viewer_a: User, imported_a: DataSource
) -> None:
    # As the live feed refreshes a session: the stored search vector is regenerated.
    ChatSession.objects.unscoped().filter(session_id="A2").update(
        initial_msg="", full_transcript="Agent: the warehouse found it"
    )
    client = api(viewer_a)

    def found(q: str) -> list[str]:
        body = client.get("/api/v1/sessions/", {"q": q}).json()
        return [row["session_id"] for row in body["results"]]

    assert found("warehouse") == ["A2"]
    assert found("courier") == []
    assert found("colis") == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL index")
def test_search_expression_matches_the_gin_index() -> None:
    from analytics.search import search_sessions

    # Without an ordering or a company filter the only index that can serve it is the GIN.
    query = search_sessions(ChatSession.objects.unscoped().order_by(), "invoice")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = query.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "session_search_idx" in plan


# --- export -------------------------------------------------------------------------------


def test_export_streams_the_filtered_sessions_in_the_import_format(
    api: ApiFor, viewer_a: User, imported_a: DataSource
) -> None:
    response, rows = export(api(viewer_a), "?country=DE")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="sessions-')
    # The import format, then the live chat's labels (empty for imported sessions); the
    # importer ignores the extra column, so an export imports again.
    assert rows[0] == [*COLUMNS, "labels"]
    assert [row[0] for row in rows[1:]] == ["A3", "A1"]
    a1 = dict(zip(EXPORT_COLUMNS, rows[2], strict=True))
    assert a1["labels"] == ""
    assert a1["start_time"] == "2024-03-01T09:00:00+00:00"
    assert (a1["escalated"], a1["forwarded_hr"], a1["user_rating"]) == ("false", "false", "5")
    assert (a1["tokens"], a1["tokens_eur"], a1["avg_response_time"]) == ("1200", "0.0240", "4.5")


def test_export_escapes_cells_a_spreadsheet_would_run_as_formulas(
    api: ApiFor, viewer_a: User, upload: Upload, company_a: Company
) -> None:
    rows = [
        {"session_id": "=1+1", "initial_msg": '=HYPERLINK("http://x")'},
        {"session_id": "+plus", "initial_msg": "+49 30 1234"},
        {"session_id": "-minus", "initial_msg": "-2+3"},
        {"session_id": "@at", "initial_msg": "@SUM(A1)"},
        {"session_id": "tab", "initial_msg": "\tTAB", "full_transcript": "\t=cmd"},
        {"session_id": "cr", "initial_msg": "\rCR"},
        {"session_id": "plain", "initial_msg": "a=b, -c"},
    ]
    source = upload(company_a, csv_text(rows, quoting=csv.QUOTE_ALL))
    run_import(source.pk)
    source.refresh_from_db()
    assert source.rows_imported == len(rows)
    _, exported = export(api(viewer_a))
    cells = {row[0]: dict(zip(EXPORT_COLUMNS, row, strict=True)) for row in exported[1:]}
    assert set(cells) == {"'=1+1", "'+plus", "'-minus", "'@at", "tab", "cr", "plain"}
    assert cells["'=1+1"]["initial_msg"] == '\'=HYPERLINK("http://x")'
    assert cells["'+plus"]["initial_msg"] == "'+49 30 1234"
    assert cells["'-minus"]["initial_msg"] == "'-2+3"
    assert cells["'@at"]["initial_msg"] == "'@SUM(A1)"
    assert cells["tab"]["initial_msg"] == "'\tTAB"
    assert cells["tab"]["full_transcript"] == "'\t=cmd"
    assert cells["cr"]["initial_msg"] == "'\rCR"
    assert cells["plain"]["initial_msg"] == "a=b, -c"


def test_export_answers_json_errors_whatever_the_accept_header(api: ApiFor, viewer_a: User) -> None:
    response = api(viewer_a).get("/api/v1/sessions/export.csv?rating_min=x", HTTP_ACCEPT="text/csv")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "rating_min" in response.json()


def test_export_under_asgi_is_streamed_asynchronously(
    upload: Upload, company_a: Company, viewer_a: User
) -> None:
    """Under daphne a synchronous iterator would be read whole into memory before sending."""
    run_import(upload(company_a, csv_text(sessions("S1", "S2", "S3"))).pk)
    token = Token.objects.create(user=viewer_a)

    async def fetch() -> tuple[Any, bytes]:
        # Run from this (sync) test, the view's database work comes back to this thread and
        # its connection: the test's transaction.
        response = await AsyncClient().get(
            "/api/v1/sessions/export.csv?q=help", headers={"Authorization": f"Token {token.key}"}
        )
        return response, b"".join([chunk async for chunk in response.streaming_content])

    response, body = async_to_sync(fetch)()
    assert response.status_code == 200
    assert response.is_async
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert sorted(row[0] for row in rows[1:]) == ["S1", "S2", "S3"]


def test_openapi_schema_documents_the_analytics_endpoints() -> None:
    from drf_spectacular.generators import SchemaGenerator

    from tests.analytics import urls

    schema = SchemaGenerator(patterns=urls.urlpatterns).get_schema(request=None, public=True)
    assert set(schema["paths"]) == {
        "/api/v1/data-sources/",
        "/api/v1/data-sources/{id}/",
        "/api/v1/sessions/",
        "/api/v1/sessions/{id}/",
        "/api/v1/sessions/export.csv",
    }
    upload = schema["paths"]["/api/v1/data-sources/"]["post"]
    assert set(upload["requestBody"]["content"]) == {"multipart/form-data"}
    assert "413" in upload["responses"]
    export = schema["paths"]["/api/v1/sessions/export.csv"]["get"]
    assert {"q", "date_from", "rating_min", "data_source"} <= {
        p["name"] for p in export["parameters"]
    }
    assert "text/csv" in export["responses"]["200"]["content"]
