"""/admin/ is tenant-aware: company A's admin never sees, opens, picks or changes B's rows.

Most tests run twice: with CompanyMiddleware (the normal stack, where the active company also
scopes every manager) and without it, to show that the admin mixin isolates on its own.

Django 5.2's admin answers a change, history or delete view of an object outside the admin's
queryset with a 302 to the admin index and a "… doesn’t exist. Perhaps it was deleted?" message
(`ModelAdmin._get_obj_does_not_exist_redirect`), exactly as for a deleted object, so another
company's ids are indistinguishable from missing ones. The tests assert that precisely.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client as HttpClient
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from analytics.models import Dashboard
from routing_service.chats.models import Channel, ChatNotification, Client, Conversation
from routing_service.tenancy.context import active_company
from routing_service.tenancy.models import Company, Role, User
from tests.tenancy.world import World, build_world, pks

pytestmark = pytest.mark.django_db

COMPANY_MIDDLEWARE = "routing_service.tenancy.middleware.CompanyMiddleware"

# (app label, model name, World attribute) for every tenant model in the admin.
ADMIN_ROWS = [
    ("tenancy", "user", "agent"),
    ("chats", "channel", "channel"),
    ("chats", "client", "client"),
    ("chats", "conversation", "conversation"),
    ("chats", "message", "message"),
    ("chats", "chatassignment", "assignment"),
    ("chats", "assignmentevent", "event"),
    ("chats", "chatnotification", "notification"),
    ("chats", "routingpolicy", "routing_policy"),
    ("sla_engine", "chatsla", "sla"),
    ("queues", "queue", "queue"),
    ("queues", "queuerule", "queue_rule"),
    ("analytics", "datasource", "data_source"),
    ("analytics", "chatsession", "session"),
    ("analytics", "dashboard", "dashboard"),
    ("analytics", "chatresponsetracking", "tracking"),
]
ROW_IDS = [model for _, model, _ in ADMIN_ROWS]


def url(app: str, model: str, view: str, *args: Any) -> str:
    return reverse(f"admin:{app}_{model}_{view}", args=args)


def assert_no_globex(html: str) -> None:
    """Every name and id of company B's rows contains "globex": none may reach A's admin."""
    assert "globex" not in html.lower()


def assert_missing_object_redirect(client: HttpClient, response: Any) -> None:
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")
    index = client.get(response["Location"])
    assert "doesn’t exist. Perhaps it was deleted?" in index.content.decode()
    assert_no_globex(index.content.decode())


@pytest.fixture(params=["middleware", "mixin-only"])
def tenant_stack(request: pytest.FixtureRequest, settings: Any) -> str:
    """Run with the normal middleware, and once more without the active company."""
    if request.param == "mixin-only":
        settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != COMPANY_MIDDLEWARE]
    return str(request.param)


@pytest.fixture
def login() -> Callable[[User], HttpClient]:
    def client_for(user: User) -> HttpClient:
        client = HttpClient()
        client.force_login(user)
        return client

    return client_for


@pytest.fixture
def as_admin_a(tenant_stack: str, login: Callable[[User], HttpClient], admin_a: User) -> HttpClient:
    return login(admin_a)


# --- Change lists, change views -----------------------------------------------------------


@pytest.mark.parametrize(("app", "model", "row"), ADMIN_ROWS, ids=ROW_IDS)
def test_changelist_lists_only_own_company_rows(
    as_admin_a: HttpClient, worlds: tuple[World, World], app: str, model: str, row: str
) -> None:
    a, b = worlds
    response = as_admin_a.get(url(app, model, "changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert url(app, model, "change", a.row(row).pk) in html
    assert url(app, model, "change", b.row(row).pk) not in html
    assert b.row(row).pk not in pks(response.context["cl"].result_list)
    assert_no_globex(html)


@pytest.mark.parametrize(("app", "model", "row"), ADMIN_ROWS, ids=ROW_IDS)
def test_change_view_of_another_company_row_redirects_as_if_missing(
    as_admin_a: HttpClient, worlds: tuple[World, World], app: str, model: str, row: str
) -> None:
    a, b = worlds
    assert as_admin_a.get(url(app, model, "change", a.row(row).pk)).status_code == 200
    response = as_admin_a.get(url(app, model, "change", b.row(row).pk))
    assert_missing_object_redirect(as_admin_a, response)


@pytest.mark.parametrize(("app", "model", "row"), ADMIN_ROWS, ids=ROW_IDS)
def test_history_view_of_another_company_row_redirects_as_if_missing(
    as_admin_a: HttpClient, worlds: tuple[World, World], app: str, model: str, row: str
) -> None:
    _, b = worlds
    response = as_admin_a.get(url(app, model, "history", b.row(row).pk))
    assert_missing_object_redirect(as_admin_a, response)


def test_posting_to_another_company_row_changes_nothing(
    as_admin_a: HttpClient, worlds: tuple[World, World]
) -> None:
    _, b = worlds
    response = as_admin_a.post(
        url("chats", "channel", "change", b.channel.pk),
        {"name": "Hijacked", "provider": "generic", "is_active": "on", "config": "{}"},
    )
    assert_missing_object_redirect(as_admin_a, response)
    assert Channel.objects.unscoped().get(pk=b.channel.pk).name == "Globex Web"


def test_deleting_another_company_row_deletes_nothing(
    as_admin_a: HttpClient, worlds: tuple[World, World]
) -> None:
    _, b = worlds
    delete_url = url("chats", "client", "delete", b.client.pk)
    assert_missing_object_redirect(as_admin_a, as_admin_a.get(delete_url))
    assert_missing_object_redirect(as_admin_a, as_admin_a.post(delete_url, {"post": "yes"}))
    assert Client.objects.unscoped().filter(pk=b.client.pk).exists()


def test_bulk_delete_action_cannot_reach_another_company_rows(
    as_admin_a: HttpClient, worlds: tuple[World, World]
) -> None:
    a, b = worlds
    as_admin_a.post(
        url("analytics", "dashboard", "changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [a.dashboard.pk, b.dashboard.pk],
            "post": "yes",
        },
    )
    assert pks(Dashboard.objects.unscoped()) == {b.dashboard.pk}


# --- Form choices ----------------------------------------------------------------------------

# (app, model, form field, World attribute of the rows it may offer)
CHOICE_FIELDS = [
    ("chats", "conversation", "client", "client"),
    ("chats", "conversation", "channel", "channel"),
    ("chats", "message", "conversation", "conversation"),
    ("chats", "message", "channel", "channel"),
    ("chats", "message", "sender", "agent"),
    ("chats", "chatassignment", "conversation", "conversation"),
    ("chats", "chatassignment", "agent", "agent"),
    ("chats", "chatnotification", "recipient", "agent"),
    ("chats", "chatnotification", "client", "client"),
    ("analytics", "chatsession", "data_source", "data_source"),
    ("analytics", "chatsession", "conversation", "conversation"),
    ("analytics", "dashboard", "data_sources", "data_source"),
]


@pytest.mark.parametrize(
    ("app", "model", "field", "row"), CHOICE_FIELDS, ids=[f"{c[1]}.{c[2]}" for c in CHOICE_FIELDS]
)
def test_add_form_offers_only_own_company_choices(
    as_admin_a: HttpClient,
    worlds: tuple[World, World],
    app: str,
    model: str,
    field: str,
    row: str,
) -> None:
    a, b = worlds
    response = as_admin_a.get(url(app, model, "add"))
    assert response.status_code == 200
    queryset = response.context["adminform"].form.fields[field].queryset
    assert a.row(row).pk in pks(queryset)
    assert b.row(row).pk not in pks(queryset)
    assert {owner.company_id for owner in queryset} == {a.company.pk}
    assert_no_globex(response.content.decode())


EDITABLE_ROWS = [r for r in ADMIN_ROWS if r[1] not in {"assignmentevent", "chatresponsetracking"}]


@pytest.mark.parametrize(("app", "model", "row"), EDITABLE_ROWS, ids=[r[1] for r in EDITABLE_ROWS])
def test_company_field_is_hidden_and_fixed_for_a_company_admin(
    as_admin_a: HttpClient, worlds: tuple[World, World], app: str, model: str, row: str
) -> None:
    a, _ = worlds
    response = as_admin_a.get(url(app, model, "change", a.row(row).pk))
    company = response.context["adminform"].form.fields["company"]
    assert company.disabled
    assert company.widget.is_hidden
    assert pks(company.queryset) == {a.company.pk}


def test_a_tampered_company_is_ignored_on_add(
    as_admin_a: HttpClient, worlds: tuple[World, World]
) -> None:
    _, b = worlds
    response = as_admin_a.post(
        url("chats", "client", "add"),
        {"company": b.company.pk, "external_id": "acme-new", "name": "Acme New", "metadata": "{}"},
    )
    assert response.status_code == 302
    created = Client.objects.unscoped().get(external_id="acme-new")
    assert created.company_id == worlds[0].company.pk


def test_a_tampered_choice_of_another_company_is_rejected(
    as_admin_a: HttpClient, worlds: tuple[World, World]
) -> None:
    a, b = worlds
    response = as_admin_a.post(
        url("chats", "chatnotification", "add"),
        {
            "recipient": a.agent.pk,
            "client": b.client.pk,
            "unread_count": 1,
            "urgent_count": 0,
            "last_text": "",
        },
    )
    assert response.status_code == 200
    assert "client" in response.context["adminform"].form.errors
    assert not ChatNotification.objects.unscoped().filter(client=b.client, recipient=a.agent)


def test_unique_constraints_with_the_hidden_company_are_validated_by_the_form(
    as_admin_a: HttpClient, worlds: tuple[World, World]
) -> None:
    """The company field is kept (hidden) so a duplicate is a form error, not a 500."""
    a, _ = worlds
    response = as_admin_a.post(
        url("chats", "client", "add"),
        {"external_id": a.client.external_id, "name": "Again", "metadata": "{}"},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors


# --- Autocomplete and filters ------------------------------------------------------------------

# (source app, source model, field, World attribute of the rows it finds)
AUTOCOMPLETES = [
    ("chats", "conversation", "client", "client"),
    ("chats", "message", "conversation", "conversation"),
    ("chats", "message", "sender", "agent"),
    ("chats", "chatassignment", "agent", "agent"),
    ("chats", "chatnotification", "client", "client"),
    ("analytics", "chatsession", "conversation", "conversation"),
    ("tenancy", "user", "company", "company"),
]


@pytest.mark.parametrize(
    ("app", "model", "field", "row"), AUTOCOMPLETES, ids=[f"{c[1]}.{c[2]}" for c in AUTOCOMPLETES]
)
def test_autocomplete_returns_only_own_company_rows(
    as_admin_a: HttpClient,
    worlds: tuple[World, World],
    app: str,
    model: str,
    field: str,
    row: str,
) -> None:
    a, b = worlds
    params = {"app_label": app, "model_name": model, "field_name": field}
    response = as_admin_a.get(reverse("admin:autocomplete"), {**params, "term": ""})
    assert response.status_code == 200
    ids = {int(r["id"]) for r in response.json()["results"]}
    assert a.row(row).pk in ids
    assert b.row(row).pk not in ids
    assert_no_globex(response.content.decode())
    searched = as_admin_a.get(reverse("admin:autocomplete"), {**params, "term": "Globex"})
    assert searched.json()["results"] == []


@pytest.mark.parametrize(
    ("app", "model", "field_path", "row"),
    [
        ("chats", "conversation", "channel", "channel"),
        ("chats", "message", "channel", "channel"),
        ("chats", "chatassignment", "agent", "agent"),
        ("chats", "chatnotification", "recipient", "agent"),
        ("analytics", "chatsession", "data_source", "data_source"),
    ],
    ids=["conversation.channel", "message.channel", "assignment.agent", "recipient", "source"],
)
def test_list_filter_choices_exclude_other_companies(
    as_admin_a: HttpClient,
    worlds: tuple[World, World],
    make_user: Callable[..., User],
    app: str,
    model: str,
    field_path: str,
    row: str,
) -> None:
    a, b = worlds
    # A second choice of A's own, so that every filter has something to offer.
    build_world(a.company, "Acme", make_user, n=1)
    response = as_admin_a.get(url(app, model, "changelist"))
    spec = next(s for s in response.context["cl"].filter_specs if s.field_path == field_path)
    choices = {pk for pk, _ in spec.lookup_choices}
    assert a.row(row).pk in choices
    assert b.row(row).pk not in choices
    assert_no_globex(response.content.decode())


# --- Users ---------------------------------------------------------------------------------


def new_user_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "username": "newbie",
        "usable_password": "true",
        "password1": "Correct-horse-42",
        "password2": "Correct-horse-42",
        "role": Role.AGENT,
        "email": "",
        "max_chats": 3,
        "skills": '["Billing", "billing"]',
        "languages": '["EN"]',
        "status": "offline",
    }
    data.update(overrides)
    return data


def test_company_admin_adds_users_to_their_own_company_only(
    as_admin_a: HttpClient, worlds: tuple[World, World]
) -> None:
    a, b = worlds
    response = as_admin_a.post(url("tenancy", "user", "add"), new_user_data(company=b.company.pk))
    assert response.status_code == 302
    user = User.objects.get(username="newbie")
    assert user.company_id == a.company.pk
    assert (user.skills, user.languages) == (["billing"], ["en"])
    assert not user.is_staff


def test_company_admin_cannot_create_a_superadmin(
    as_admin_a: HttpClient, worlds: tuple[World, World]
) -> None:
    response = as_admin_a.post(url("tenancy", "user", "add"), new_user_data(role=Role.SUPERADMIN))
    assert response.status_code == 200
    assert "role" in response.context["adminform"].form.errors
    assert not User.objects.filter(username="newbie").exists()
    role_choices = dict(response.context["adminform"].form.fields["role"].choices)
    assert Role.SUPERADMIN not in role_choices


def test_company_admin_cannot_promote_a_user_to_superadmin(
    as_admin_a: HttpClient, worlds: tuple[World, World]
) -> None:
    a, _ = worlds
    response = as_admin_a.post(
        url("tenancy", "user", "change", a.agent.pk),
        {
            "username": a.agent.username,
            "role": Role.SUPERADMIN,
            "is_active": "on",
            "max_chats": 3,
            "skills": "[]",
            "languages": "[]",
            "status": "offline",
        },
    )
    assert response.status_code == 200
    assert "role" in response.context["adminform"].form.errors
    a.agent.refresh_from_db()
    assert (a.agent.role, a.agent.is_superuser) == (Role.AGENT, False)


def test_company_admin_cannot_change_another_company_users_password(
    as_admin_a: HttpClient, worlds: tuple[World, World]
) -> None:
    a, b = worlds
    password_url = reverse("admin:auth_user_password_change", args=[b.agent.pk])
    assert as_admin_a.get(password_url).status_code == 404
    response = as_admin_a.post(
        password_url, {"password1": "Correct-horse-42", "password2": "Correct-horse-42"}
    )
    assert response.status_code == 404
    b.agent.refresh_from_db()
    assert b.agent.check_password("pw-123456")
    own = reverse("admin:auth_user_password_change", args=[a.agent.pk])
    assert as_admin_a.get(own).status_code == 200


def test_deactivating_a_user_in_the_admin_takes_them_offline(
    as_admin_a: HttpClient, worlds: tuple[World, World]
) -> None:
    a, _ = worlds
    a.agent.status = "available"
    a.agent.save()
    response = as_admin_a.post(
        url("tenancy", "user", "change", a.agent.pk),
        {
            "username": a.agent.username,
            "role": Role.AGENT,
            "max_chats": 5,
            "skills": '["Billing"]',
            "languages": "[]",
        },
    )
    assert response.status_code == 302
    a.agent.refresh_from_db()
    assert (a.agent.is_active, a.agent.status, a.agent.max_chats) == (False, "offline", 5)
    assert a.agent.skills == ["billing"]


def test_superadmin_must_give_every_non_superadmin_a_company(
    login: Callable[[User], HttpClient], superadmin: User
) -> None:
    client = login(superadmin)
    response = client.post(url("tenancy", "user", "add"), new_user_data())
    assert response.status_code == 200
    assert "company" in response.context["adminform"].form.errors
    response = client.post(url("tenancy", "user", "add"), new_user_data(role=Role.SUPERADMIN))
    assert response.status_code == 302
    assert User.objects.get(username="newbie").is_superuser


# --- Companies -----------------------------------------------------------------------------


def test_company_admin_sees_and_renames_only_their_company(
    as_admin_a: HttpClient, worlds: tuple[World, World]
) -> None:
    a, b = worlds
    changelist = as_admin_a.get(url("tenancy", "company", "changelist"))
    assert pks(changelist.context["cl"].result_list) == {a.company.pk}
    assert_no_globex(changelist.content.decode())
    assert_missing_object_redirect(
        as_admin_a, as_admin_a.get(url("tenancy", "company", "change", b.company.pk))
    )
    response = as_admin_a.post(
        url("tenancy", "company", "change", a.company.pk),
        {"name": "Acme Renamed", "slug": "hijack", "is_active": ""},
    )
    assert response.status_code == 302
    a.company.refresh_from_db()
    assert (a.company.name, a.company.slug, a.company.is_active) == ("Acme Renamed", "acme", True)
    assert as_admin_a.get(url("tenancy", "company", "add")).status_code == 403
    assert as_admin_a.get(url("tenancy", "company", "delete", a.company.pk)).status_code == 403


def test_superadmin_adds_a_company_with_its_routing_policy(
    login: Callable[[User], HttpClient], superadmin: User
) -> None:
    response = login(superadmin).post(
        url("tenancy", "company", "add"), {"name": "Initech", "slug": "initech", "is_active": "on"}
    )
    assert response.status_code == 302
    company = Company.objects.get(slug="initech")
    assert company.routing_policy.strategy == "round_robin"


# --- Permissions by role -------------------------------------------------------------------


def test_audit_trail_and_rollups_are_view_only_for_a_company_admin(
    as_admin_a: HttpClient, worlds: tuple[World, World]
) -> None:
    a, _ = worlds
    for app, model, row in [
        ("chats", "assignmentevent", "event"),
        ("analytics", "chatresponsetracking", "tracking"),
    ]:
        assert as_admin_a.get(url(app, model, "add")).status_code == 403
        change = as_admin_a.get(url(app, model, "change", a.row(row).pk))
        assert change.status_code == 200
        assert not change.context["has_change_permission"]
        assert as_admin_a.get(url(app, model, "delete", a.row(row).pk)).status_code == 403


def test_company_admin_cannot_add_or_delete_the_routing_policy(
    as_admin_a: HttpClient, worlds: tuple[World, World]
) -> None:
    a, _ = worlds
    assert as_admin_a.get(url("chats", "routingpolicy", "add")).status_code == 403
    delete = url("chats", "routingpolicy", "delete", a.routing_policy.pk)
    assert as_admin_a.get(delete).status_code == 403


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.AGENT, Role.VIEWER])
def test_non_admin_roles_are_kept_out_of_the_admin(
    login: Callable[[User], HttpClient],
    make_user: Callable[..., User],
    company_a: Company,
    role: str,
) -> None:
    client = login(make_user(company_a, role))
    response = client.get(url("chats", "conversation", "changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_company_admin_index_lists_only_tenant_apps(as_admin_a: HttpClient) -> None:
    response = as_admin_a.get(reverse("admin:index"))
    apps = {app["app_label"] for app in response.context["app_list"]}
    assert apps == {
        "tenancy",
        "chats",
        "queues",
        "attachments",
        "sla_engine",
        "analytics",
        "retention",
    }


# --- The superadmin ------------------------------------------------------------------------


@pytest.mark.parametrize(("app", "model", "row"), ADMIN_ROWS, ids=ROW_IDS)
def test_superadmin_sees_every_company_with_a_company_column_and_filter(
    login: Callable[[User], HttpClient],
    superadmin: User,
    worlds: tuple[World, World],
    app: str,
    model: str,
    row: str,
) -> None:
    a, b = worlds
    client = login(superadmin)
    response = client.get(url(app, model, "changelist"))
    cl = response.context["cl"]
    assert {a.row(row).pk, b.row(row).pk} <= pks(cl.result_list)
    if model != "routingpolicy":  # its __str__ already names the company
        assert "company" in cl.list_display
    company_filter = next(s for s in cl.filter_specs if getattr(s, "field_path", "") == "company")
    assert {a.company.pk, b.company.pk} <= {pk for pk, _ in company_filter.lookup_choices}
    assert client.get(url(app, model, "change", b.row(row).pk)).status_code == 200


def test_superadmin_filters_by_company(
    login: Callable[[User], HttpClient], superadmin: User, worlds: tuple[World, World]
) -> None:
    a, _ = worlds
    response = login(superadmin).get(
        url("chats", "conversation", "changelist"), {"company__id__exact": a.company.pk}
    )
    assert pks(response.context["cl"].result_list) == {a.conversation.pk}


def test_a_row_never_moves_to_another_company(
    login: Callable[[User], HttpClient], superadmin: User, worlds: tuple[World, World]
) -> None:
    a, b = worlds
    response = login(superadmin).post(
        url("chats", "client", "change", a.client.pk),
        {"company": b.company.pk, "external_id": "acme-ext", "name": "Moved?", "metadata": "{}"},
    )
    assert response.status_code == 302
    a.client.refresh_from_db()
    assert (a.client.company_id, a.client.name) == (a.company.pk, "Moved?")


@pytest.mark.parametrize(("app", "model", "row"), ADMIN_ROWS, ids=ROW_IDS)
def test_add_and_change_forms_render_for_both_admin_roles(
    login: Callable[[User], HttpClient],
    superadmin: User,
    admin_a: User,
    worlds: tuple[World, World],
    app: str,
    model: str,
    row: str,
) -> None:
    a, _ = worlds
    view_only = model in {"assignmentevent", "chatresponsetracking"}
    for user in (superadmin, admin_a):
        client = login(user)
        add = client.get(url(app, model, "add"))
        company_admin_may_add = not view_only and model != "routingpolicy"
        expected = 200 if company_admin_may_add or (user == superadmin and not view_only) else 403
        assert add.status_code == expected
        assert client.get(url(app, model, "change", a.row(row).pk)).status_code == 200


def test_superadmin_cannot_mix_companies_in_one_row(
    login: Callable[[User], HttpClient], superadmin: User, worlds: tuple[World, World]
) -> None:
    a, b = worlds
    response = login(superadmin).post(
        url("chats", "chatnotification", "add"),
        {
            "company": a.company.pk,
            "recipient": a.agent.pk,
            "client": b.client.pk,
            "unread_count": 1,
            "urgent_count": 0,
            "last_text": "",
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["client"] == [
        "This belongs to another company."
    ]


# --- The mixin on its own --------------------------------------------------------------------


def admin_request(user: User) -> Any:
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def test_mixin_scopes_a_company_admin_without_any_active_company(
    admin_a: User, worlds: tuple[World, World]
) -> None:
    a, b = worlds
    request = admin_request(admin_a)
    model_admin = admin.site.get_model_admin(Conversation)
    assert pks(model_admin.get_queryset(request)) == {a.conversation.pk}
    form = model_admin.get_form(request)()
    assert pks(form.fields["channel"].queryset) == {a.channel.pk, a.other_channel.pk}
    # The user decides, not the context: another active company changes nothing.
    with active_company(b.company):
        assert pks(model_admin.get_queryset(request)) == {a.conversation.pk}
        form = model_admin.get_form(request)()
        assert pks(form.fields["channel"].queryset) == {a.channel.pk, a.other_channel.pk}


def test_mixin_gives_a_superadmin_every_company_even_with_an_active_company(
    superadmin: User, worlds: tuple[World, World]
) -> None:
    a, b = worlds
    request = admin_request(superadmin)
    model_admin = admin.site.get_model_admin(Conversation)
    with active_company(a.company):
        assert pks(model_admin.get_queryset(request)) == {a.conversation.pk, b.conversation.pk}
        form = model_admin.get_form(request)()
        assert {a.channel.pk, b.channel.pk} <= pks(form.fields["channel"].queryset)


# --- Channels --------------------------------------------------------------------------------


def test_channel_secrets_are_never_rendered_and_kept_when_left_empty(
    as_admin_a: HttpClient, worlds: tuple[World, World]
) -> None:
    a, _ = worlds
    a.channel.config = {"callback_url": "https://acme.example/cb", "api_token": "tok-1234567890"}
    a.channel.save()
    change_url = url("chats", "channel", "change", a.channel.pk)
    response = as_admin_a.get(change_url)
    page = response.content.decode()
    assert "s3cret" not in page
    assert "tok-1234567890" not in page
    assert a.channel.webhook_url in page
    assert "s3cret" not in as_admin_a.get(url("chats", "channel", "changelist")).content.decode()
    # Saving the page as shown (empty secret, masked token) changes no credential.
    config_shown = response.context["adminform"].form.initial["config"]
    assert config_shown["api_token"] != "tok-1234567890"
    data = {
        "name": "Acme Web",
        "provider": "generic",
        "is_active": "on",
        "secret": "",
        "config": json.dumps(config_shown),
        "max_body_bytes": "",
    }
    assert as_admin_a.post(change_url, data).status_code == 302
    a.channel.refresh_from_db()
    assert (a.channel.secret, a.channel.previous_secret) == ("s3cret", "")
    assert a.channel.config["api_token"] == "tok-1234567890"


def test_a_new_channel_secret_starts_a_rotation_until_revoked(
    as_admin_a: HttpClient, worlds: tuple[World, World]
) -> None:
    a, _ = worlds
    change_url = url("chats", "channel", "change", a.channel.pk)
    data = {"name": "Acme Web", "provider": "generic", "is_active": "on", "config": "{}"}
    too_short = as_admin_a.post(change_url, {**data, "secret": "short"})
    assert "secret" in too_short.context["adminform"].form.errors
    new_secret = "a-new-signing-key-0123456789"
    assert as_admin_a.post(change_url, {**data, "secret": new_secret}).status_code == 302
    a.channel.refresh_from_db()
    assert (a.channel.secret, a.channel.previous_secret) == (new_secret, "s3cret")
    revoke = {**data, "revoke_previous_secret": "on"}
    assert as_admin_a.post(change_url, revoke).status_code == 302
    a.channel.refresh_from_db()
    assert (a.channel.secret, a.channel.previous_secret) == (new_secret, "")


# --- Query counts ----------------------------------------------------------------------------


@pytest.mark.parametrize(("app", "model", "row"), ADMIN_ROWS, ids=ROW_IDS)
def test_changelists_cost_a_fixed_number_of_queries(
    login: Callable[[User], HttpClient],
    superadmin: User,
    admin_a: User,
    worlds: tuple[World, World],
    make_user: Callable[..., User],
    app: str,
    model: str,
    row: str,
) -> None:
    a, b = worlds
    changelist = url(app, model, "changelist")
    clients = [login(superadmin), login(admin_a)]

    def query_counts() -> list[int]:
        counts = []
        for client in clients:
            client.get(changelist)  # warm caches (content types, sessions)
            with CaptureQueriesContext(connection) as queries:
                assert client.get(changelist).status_code == 200
            counts.append(len(queries))
        return counts

    before = query_counts()
    for n in (1, 2, 3):
        build_world(a.company, "Acme", make_user, n=n)
        build_world(b.company, "Globex", make_user, n=n)
    assert query_counts() == before


def test_conversation_links_to_its_messages_and_events(
    as_admin_a: HttpClient, worlds: tuple[World, World]
) -> None:
    a, b = worlds
    page = as_admin_a.get(url("chats", "conversation", "change", a.conversation.pk))
    link = f"{url('chats', 'message', 'changelist')}?conversation={a.conversation.pk}"
    assert link in page.content.decode()
    messages = as_admin_a.get(link)
    assert pks(messages.context["cl"].result_list) == {a.message.pk}
    events = as_admin_a.get(
        url("chats", "assignmentevent", "changelist"), {"conversation": b.conversation.pk}
    )
    assert events.status_code == 200
    assert not events.context["cl"].result_list


def test_conversation_changelist_shows_the_assigned_agent(
    as_admin_a: HttpClient, worlds: tuple[World, World]
) -> None:
    a, _ = worlds
    response = as_admin_a.get(url("chats", "conversation", "changelist"))
    assert a.agent.username in response.content.decode()
