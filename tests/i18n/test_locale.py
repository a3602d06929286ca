"""Which language and time zone a request gets, and where people choose them.

The profile's language wins over the browser's Accept-Language (and over the switcher's
cookie); with none chosen, the browser decides; the time zone is the user's, else their
company's, else UTC. People set their own over the switcher, the preferences page and
`PATCH /api/v1/users/me/`; admins over the users endpoint, within their own company only.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from routing_service.i18n.catalog import catalog_version
from routing_service.tenancy import actions
from routing_service.tenancy.models import Company, Role, User

pytestmark = pytest.mark.django_db

PASSWORD = "pw-123456"


def signed_in(user: User, **headers: str) -> Client:
    client = Client(**headers)
    client.force_login(user)
    return client


def html_lang(body: str) -> tuple[str, str]:
    match = re.search(r'<html lang="([^"]+)" data-time-zone="([^"]*)"', body)
    assert match, "the page names no language and time zone"
    return match.group(1), match.group(2)


def test_a_browser_that_prefers_spanish_gets_spanish_pages(db: Any) -> None:
    response = Client(HTTP_ACCEPT_LANGUAGE="es-ES,es;q=0.9,en;q=0.5").get("/accounts/login/")
    body = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Language"] == "es"
    assert html_lang(body)[0] == "es"
    assert "Iniciar sesión" in body and "Nombre de usuario" in body and "Contraseña" in body
    assert "¿Ha olvidado su contraseña?" in body
    english = Client(HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.8").get("/accounts/login/")
    assert "Forgot your password?" in english.content.decode()


def test_the_profile_language_wins_over_the_browser(
    make_user: Callable[..., User], company_a: Company
) -> None:
    user = make_user(company_a, Role.SUPERVISOR, language="de")
    response = signed_in(user, HTTP_ACCEPT_LANGUAGE="es").get("/")
    body = response.content.decode()
    assert response["Content-Language"] == "de"
    assert html_lang(body)[0] == "de"
    assert "Willkommen" in body and "Chat-Dashboard" in body and "Abmelden" in body
    # The role's name, a model choice, is translated too.
    assert "Vorgesetzte/r" in body


def test_no_profile_choice_follows_the_browser(
    make_user: Callable[..., User], company_a: Company
) -> None:
    user = make_user(company_a, Role.AGENT)
    assert user.language == ""
    body = signed_in(user, HTTP_ACCEPT_LANGUAGE="es").get("/console/").content.decode()
    assert html_lang(body)[0] == "es"
    assert "Mis chats" in body and "Cola" in body and "Consola" in body


def test_the_time_zone_is_the_users_else_the_companys_else_utc(
    make_user: Callable[..., User], company_a: Company, company_b: Company
) -> None:
    actions.update_company(company_a, time_zone="Europe/Madrid")
    own = make_user(company_a, time_zone="America/Bogota")
    company_default = make_user(company_a)
    plain = make_user(company_b)
    assert html_lang(signed_in(own).get("/").content.decode())[1] == "America/Bogota"
    assert html_lang(signed_in(company_default).get("/").content.decode())[1] == "Europe/Madrid"
    assert html_lang(signed_in(plain).get("/").content.decode())[1] == "UTC"


def test_page_times_are_shown_in_the_users_zone_and_format(
    make_user: Callable[..., User], company_a: Company
) -> None:
    """A datetime the server renders (the data source's upload time) is in the user's zone,
    written the German way."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from analytics import actions as analytics_actions
    from analytics.models import DataSource

    user = make_user(company_a, Role.SUPERVISOR, language="de", time_zone="America/Bogota")
    source = analytics_actions.create_data_source(
        company=company_a,
        upload=SimpleUploadedFile("s.csv", b"session_id\n", content_type="text/csv"),
        name="Zeiten",
        created_by=user,
    )
    noon_utc = dt.datetime(2026, 3, 9, 17, 5, tzinfo=dt.UTC)
    DataSource.objects.filter(pk=source.pk).update(created_at=noon_utc)
    body = signed_in(user).get(f"/analytics/data-sources/{source.pk}/").content.decode()
    # 17:05 UTC is 12:05 in Bogotá (UTC-5); German short format: day.month.year.
    assert f"hochgeladen am 09.03.2026 12:05 von {user.username}" in body


def test_the_switcher_saves_the_choice_in_the_profile(
    make_user: Callable[..., User], company_a: Company
) -> None:
    user = make_user(company_a, Role.AGENT)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    page = client.get("/").content.decode()
    assert 'id="language-switcher"' in page
    refused = client.post("/i18n/setlang/", {"language": "de", "next": "/"})
    assert refused.status_code == 403  # no CSRF token
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/i18n/setlang/", {"language": "de", "next": "/console/", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302 and response["Location"] == "/console/"
    user.refresh_from_db()
    assert user.language == "de"
    # Another device, another browser language: still German.
    assert (
        "Meine Chats"
        in signed_in(user, HTTP_ACCEPT_LANGUAGE="es").get("/console/").content.decode()
    )


def test_the_switcher_sets_the_language_of_a_visitor(db: Any) -> None:
    client = Client()
    client.post("/i18n/setlang/", {"language": "es", "next": "/accounts/login/"})
    assert "Iniciar sesión" in client.get("/accounts/login/").content.decode()
    client.post("/i18n/setlang/", {"language": "xx", "next": "/accounts/login/"})
    assert "Iniciar sesión" in client.get("/accounts/login/").content.decode()


def test_the_preferences_page_sets_language_and_time_zone(
    make_user: Callable[..., User], company_a: Company
) -> None:
    user = make_user(company_a, Role.VIEWER)
    client = signed_in(user)
    page = client.get("/accounts/preferences/").content.decode()
    assert "The company&#x27;s time zone (UTC)" in page or "The company's time zone (UTC)" in page
    bad = client.post("/accounts/preferences/", {"language": "es", "time_zone": "Mars/Olympus"})
    assert bad.status_code == 200
    assert "Mars/Olympus" in bad.content.decode()  # named in the error
    user.refresh_from_db()
    assert (user.language, user.time_zone) == ("", "")
    saved = client.post(
        "/accounts/preferences/", {"language": "es", "time_zone": "America/Bogota"}, follow=True
    )
    body = saved.content.decode()
    assert "Sus preferencias se han guardado." in body
    assert html_lang(body) == ("es", "America/Bogota")
    user.refresh_from_db()
    assert (user.language, user.time_zone) == ("es", "America/Bogota")


def test_anyone_sets_their_own_language_and_zone_over_the_api(
    make_user: Callable[..., User], company_a: Company
) -> None:
    agent = make_user(company_a, Role.AGENT)
    api = APIClient()
    api.force_authenticate(agent)
    response = api.patch(
        "/api/v1/users/me/", {"language": "es", "time_zone": "Europe/Madrid"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert (response.json()["language"], response.json()["time_zone"]) == ("es", "Europe/Madrid")
    agent.refresh_from_db()
    assert (agent.language, agent.time_zone) == ("es", "Europe/Madrid")
    assert api.get("/api/v1/users/me/").json()["language"] == "es"
    # Nothing else about themselves: their role stays (the field is not taken here).
    api.patch("/api/v1/users/me/", {"role": "company_admin", "language": ""}, format="json")
    agent.refresh_from_db()
    assert (agent.role, agent.language) == (Role.AGENT, "")


def test_bad_language_or_zone_gets_a_field_error(
    make_user: Callable[..., User], company_a: Company
) -> None:
    agent = make_user(company_a, Role.AGENT)
    api = APIClient()
    api.force_authenticate(agent)
    bad_zone = api.patch("/api/v1/users/me/", {"time_zone": "Europe/Atlantis"}, format="json")
    assert bad_zone.status_code == 400
    assert list(bad_zone.json()) == ["time_zone"]
    assert "Europe/Atlantis" in bad_zone.json()["time_zone"][0]
    bad_language = api.patch("/api/v1/users/me/", {"language": "fr"}, format="json")
    assert bad_language.status_code == 400
    assert list(bad_language.json()) == ["language"]
    agent.refresh_from_db()
    assert (agent.language, agent.time_zone) == ("", "")


def test_admins_set_language_only_within_their_company(
    make_user: Callable[..., User],
    company_a: Company,
    company_b: Company,
    admin_a: User,
) -> None:
    ours = make_user(company_a, Role.AGENT)
    theirs = make_user(company_b, Role.AGENT)
    api = APIClient()
    api.force_authenticate(admin_a)
    assert (
        api.patch(f"/api/v1/users/{ours.pk}/", {"language": "de"}, format="json").status_code == 200
    )
    other = api.patch(f"/api/v1/users/{theirs.pk}/", {"language": "de"}, format="json")
    assert other.status_code == 404
    theirs.refresh_from_db()
    assert theirs.language == ""
    # A company's time zone is the superadmin's to set; a company admin cannot reach another.
    company = api.patch(f"/api/v1/companies/{company_b.pk}/", {"time_zone": "UTC"}, format="json")
    assert company.status_code == 403


def test_a_company_time_zone_is_validated(superadmin: User, company_a: Company) -> None:
    api = APIClient()
    api.force_authenticate(superadmin)
    bad = api.patch(f"/api/v1/companies/{company_a.pk}/", {"time_zone": "Berlin"}, format="json")
    assert bad.status_code == 400 and "time_zone" in str(bad.json())
    good = api.patch(
        f"/api/v1/companies/{company_a.pk}/", {"time_zone": "Europe/Berlin"}, format="json"
    )
    assert good.status_code == 200 and good.json()["time_zone"] == "Europe/Berlin"


def test_the_javascript_catalogue_per_language(db: Any) -> None:
    client = Client()
    german = client.get(f"/jsi18n/de/?v={catalog_version()}")
    assert german.status_code == 200
    assert german["Content-Type"].startswith("text/javascript")
    body = german.content.decode()
    assert "Meine Chats" not in body  # a template string, not a script one
    assert "Angebot abgelaufen: %(name)s" in body and "Wieder verbunden" in body
    assert "immutable" in german["Cache-Control"] and "max-age=31536000" in german["Cache-Control"]
    assert "Reconectado" in client.get("/jsi18n/es/").content.decode()
    assert "max-age=300" in client.get("/jsi18n/es/?v=old").headers["Cache-Control"]
    assert client.get("/jsi18n/fr/").status_code == 404


def test_pages_load_the_catalogue_of_their_language_before_their_scripts(
    make_user: Callable[..., User], company_a: Company
) -> None:
    user = make_user(company_a, Role.AGENT, language="es")
    body = signed_in(user).get("/console/").content.decode()
    catalogue = body.index(f'<script src="/jsi18n/es/?v={catalog_version()}"></script>')
    assert catalogue < body.index('<script type="module"')


def test_numbers_and_dates_follow_the_language(
    make_user: Callable[..., User], company_a: Company
) -> None:
    from django.utils import translation

    from analytics.templatetags.analytics_pages import euros, localdate, number, percent, seconds

    with translation.override("de"):
        assert number(40190671) == "40.190.671"
        assert percent(0.875) == "87,5 %"
        assert seconds(4.5) == "4,5 s"
        assert seconds(90061) == "1 T 01 h"
        assert euros("1234.5") == "1.234,50 €"
        assert localdate("2026-12-03") == "03.12.2026"
    with translation.override("es"):
        # Spanish groups thousands with a (non-breaking) space, as the RAE recommends.
        assert number(40190671) == "40\xa0190\xa0671"
        assert localdate(dt.date(2026, 12, 3)) == "03/12/2026"
    with translation.override("en"):
        assert number(40190671) == "40,190,671"
        assert percent(0.875) == "87.5 %"
        assert euros("1234.5") == "€ 1,234.50"
        assert localdate("2026-12-03") == "2026-12-03"
    assert timezone.get_current_timezone_name() == "UTC"
