"""The analytics pages (``/analytics/``) and the chat management dashboard (``/chat/dashboard/``).

Views are thin: ``analytics.access.company_page`` authorises and picks the company; figures
come from ``analytics.dashboards`` and ``analytics.chat_dashboard`` (aggregate queries), the
session search from ``analytics.browse`` (the API's filters), writes from ``analytics.actions``
(uploads: the same action as the API) and ``analytics.dashboard_actions``; exports stream
through ``analytics.exports``. Charts get their data through ``json_script`` and are drawn by
``frontend_static/analytics/charts.js``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST
from drf_spectacular.utils import extend_schema

from analytics import actions, browse, chat_dashboard, dashboards, queue_history, rollups
from analytics.access import (
    ANALYTICS_READERS,
    ANALYTICS_WRITERS,
    CHAT_DASHBOARD_ROLES,
    company_page,
    company_query,
    forbidden,
    page_company,
)
from analytics.api import SessionExportView
from analytics.dashboard_actions import delete_dashboard, save_dashboard
from analytics.forms import DashboardForm, DateRangeForm, UploadForm
from analytics.metrics_export import metrics_csv
from analytics.models import ChatSession, Dashboard, DataSource
from analytics.uploads import (
    SizeLimitHandler,
    UploadTooLarge,
    check_content_length,
    limit_uploads,
)
from routing_service.db.replica import replica_reads
from routing_service.tenancy.models import User
from routing_service.tenancy.pages import may_open

# Import reports list this many rejected rows (the data source keeps the first 1,000).
REPORT_ERRORS_SHOWN: Final = 200
CHAT_DASHBOARD_DEFAULT_DAYS: Final = 30
CHAT_DASHBOARD_MAX_DAYS: Final = 366
ACTIVE_IMPORT: Final = frozenset({DataSource.Status.PENDING, DataSource.Status.IMPORTING})


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _can_write(request: HttpRequest) -> bool:
    return _user(request).role in ANALYTICS_WRITERS


def _redirect(request: HttpRequest, name: str, *args: Any) -> HttpResponseRedirect:
    url = reverse(name, args=args)
    query = company_query(request)
    return HttpResponseRedirect(f"{url}?{query}" if query else url)


def _context(request: HttpRequest, section: str, **extra: Any) -> dict[str, Any]:
    company = page_company(request)
    return {
        "company": company,
        "company_query": company_query(request),
        "section": section,
        "can_write": _can_write(request),
        "can_see_chat_dashboard": _user(request).role in CHAT_DASHBOARD_ROLES,
        "is_superadmin": _user(request).is_superadmin,
        **extra,
    }


# --- dashboards -------------------------------------------------------------------------


def _dashboard_page(request: HttpRequest, dashboard: Dashboard, section: str) -> HttpResponse:
    company = page_company(request)
    range_form = DateRangeForm(request.GET or None)
    date_from = date_to = None
    if range_form.is_bound and range_form.is_valid():
        date_from = range_form.cleaned_data["date_from"]
        date_to = range_form.cleaned_data["date_to"]
    scope = dashboards.scope_for_dashboard(dashboard, date_from=date_from, date_to=date_to)
    data = dashboards.dashboard_data(scope)
    saved = Dashboard.objects.for_company(company).only("pk", "name")
    if dashboard.pk:
        sources = list(dashboard.data_sources.order_by("name").values_list("name", flat=True))
    else:
        sources = []
    return render(
        request,
        "analytics/dashboard.html",
        _context(
            request,
            section,
            dashboard=dashboard,
            data=data,
            totals=data["series"]["totals"],
            range_form=range_form,
            saved_dashboards=saved,
            source_names=sources,
            window=data["window"],
        ),
    )


@replica_reads
@company_page(ANALYTICS_READERS)
def overview(request: HttpRequest) -> HttpResponse:
    """``/analytics/``: every session of the company (live ones too), last 30 days."""
    default = Dashboard(
        company=page_company(request),
        name=gettext("All sessions"),
        include_live=True,
        last_days=dashboards.DEFAULT_LAST_DAYS,
    )
    return _dashboard_page(request, default, "overview")


@replica_reads
@company_page(ANALYTICS_READERS)
def dashboard_list(request: HttpRequest) -> HttpResponse:
    company = page_company(request)
    items = Dashboard.objects.for_company(company).prefetch_related("data_sources")
    return render(
        request, "analytics/dashboard_list.html", _context(request, "dashboards", dashboards=items)
    )


@replica_reads
@company_page(ANALYTICS_READERS)
def dashboard_detail(request: HttpRequest, pk: int) -> HttpResponse:
    dashboard = get_object_or_404(Dashboard.objects.for_company(page_company(request)), pk=pk)
    return _dashboard_page(request, dashboard, "dashboards")


@require_http_methods(["GET", "POST"])
@company_page(ANALYTICS_READERS)
def dashboard_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Create (no ``pk``) or change a dashboard: supervisors, admins and superadmins."""
    company = page_company(request)
    dashboard = get_object_or_404(Dashboard.objects.for_company(company), pk=pk) if pk else None
    if not _can_write(request):
        return forbidden(request, ANALYTICS_WRITERS)
    form = DashboardForm(request.POST or None, instance=dashboard, company=company)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        saved = save_dashboard(
            company=company,
            name=data["name"],
            data_sources=data["data_sources"],
            include_live=data["include_live"],
            date_from=data["date_from"],
            date_to=data["date_to"],
            last_days=data["last_days"],
            dashboard=dashboard,
            created_by=_user(request),
        )
        messages.success(request, gettext("Dashboard “%(name)s” saved.") % {"name": saved.name})
        return _redirect(request, "analytics:dashboard", saved.pk)
    return render(
        request,
        "analytics/dashboard_form.html",
        _context(request, "dashboards", form=form, dashboard=dashboard),
        status=400 if form.is_bound else 200,
    )


@require_POST
@company_page(ANALYTICS_READERS)
def dashboard_delete(request: HttpRequest, pk: int) -> HttpResponse:
    dashboard = get_object_or_404(Dashboard.objects.for_company(page_company(request)), pk=pk)
    if not _can_write(request):
        return forbidden(request, ANALYTICS_WRITERS)
    delete_dashboard(dashboard)
    messages.success(request, gettext("Dashboard “%(name)s” deleted.") % {"name": dashboard.name})
    return _redirect(request, "analytics:dashboards")


# --- data sources -----------------------------------------------------------------------


def _poll_url(source: DataSource) -> str | None:
    """The API's data source URL (polled while it imports), if the API is wired in."""
    try:
        return reverse("data-source-detail", args=[source.pk])
    except NoReverseMatch:
        return None


def _data_source_list(
    request: HttpRequest, form: UploadForm, status: int = 200, upload_error: str = ""
) -> HttpResponse:
    company = page_company(request)
    sources = list(
        DataSource.objects.for_company(company)
        .select_related("created_by")
        .order_by("-created_at", "-id")
    )
    for source in sources:
        active = source.status in ACTIVE_IMPORT
        source.poll_url = _poll_url(source) if active else None  # type: ignore[attr-defined]
        source.progress = _progress(source)  # type: ignore[attr-defined]
    return render(
        request,
        "analytics/data_sources.html",
        _context(
            request,
            "data-sources",
            sources=sources,
            form=form,
            upload_error=upload_error,
            importing=[s for s in sources if s.status in ACTIVE_IMPORT],
        ),
        status=status,
    )


@csrf_exempt  # the CSRF check runs in _upload, after the size limit is installed
@require_http_methods(["GET", "POST"])
@company_page(ANALYTICS_READERS)
def data_sources(request: HttpRequest) -> HttpResponse:
    """The company's data sources and their import status; POST uploads a CSV."""
    if request.method == "POST":
        if not _can_write(request):
            return forbidden(request, ANALYTICS_WRITERS)
        # Before anything reads the body: a file past the limit stops being read.
        limit = limit_uploads(request)
        try:
            check_content_length(request)
        except UploadTooLarge as exc:
            return _data_source_list(request, UploadForm(), 413, str(exc))
        return _upload(request, limit)
    return _data_source_list(request, UploadForm())


@csrf_protect
def _upload(request: HttpRequest, limit: SizeLimitHandler) -> HttpResponse:
    form = UploadForm(request.POST, request.FILES)
    if limit.exceeded:
        return _data_source_list(request, form, 413, str(UploadTooLarge(limit.limit)))
    if not form.is_valid():
        too_large = any(e.code == "too_large" for e in form.errors.as_data().get("file", []))
        return _data_source_list(request, form, 413 if too_large else 400)
    try:
        source = actions.create_data_source(
            company=page_company(request),
            upload=form.cleaned_data["file"],
            name=form.cleaned_data["name"],
            created_by=_user(request),
        )
    except UploadTooLarge as exc:
        return _data_source_list(request, form, 413, str(exc))
    messages.success(
        request,
        gettext("“%(name)s” uploaded: the import runs in the background.") % {"name": source.name},
    )
    return _redirect(request, "analytics:data-source", source.pk)


@company_page(ANALYTICS_READERS)
def data_source_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One data source: progress while it imports, then the import report."""
    source = get_object_or_404(
        DataSource.objects.for_company(page_company(request)).select_related("created_by"), pk=pk
    )
    if source.status in rollups.FINAL_STATUSES:
        # Whoever watched the import finish pays for its daily roll-up, once, here rather
        # than the first person to open a dashboard (a no-op when it is already built).
        rollups.roll_up_data_source(source.pk)
    errors = source.errors if isinstance(source.errors, list) else []
    active = source.status in ACTIVE_IMPORT
    return render(
        request,
        "analytics/data_source.html",
        _context(
            request,
            "data-sources",
            source=source,
            errors=errors[:REPORT_ERRORS_SHOWN],
            errors_stored=len(errors),
            active=active,
            poll_url=_poll_url(source) if active else None,
            progress=_progress(source),
            sessions_url=reverse("analytics:sessions"),
        ),
    )


def _progress(source: DataSource) -> int:
    if source.status == DataSource.Status.DONE:
        return 100
    if not source.bytes_total:
        return 0
    return min(100, int(source.bytes_processed * 100 / source.bytes_total))


# --- sessions ---------------------------------------------------------------------------


def _without(params: QueryDict, *names: str) -> str:
    copy = params.copy()
    for name in names:
        copy.pop(name, None)
    return copy.urlencode()


@replica_reads
@company_page(ANALYTICS_READERS)
def session_search(request: HttpRequest) -> HttpResponse:
    """Search and filter the company's sessions, newest first, a page at a time."""
    company = page_company(request)
    try:
        page = int(request.GET.get("page", "1"))
    except ValueError:
        page = 1
    results = browse.search(company.pk, request.GET, page)
    filters = _without(request.GET, "page")
    export_query = "&".join(
        part for part in (_without(request.GET, "page", "company"), company_query(request)) if part
    )
    sources = DataSource.objects.for_company(company).only("pk", "name")
    return render(
        request,
        "analytics/sessions.html",
        _context(
            request,
            "sessions",
            results=results,
            form=results.form,
            filters=filters,
            export_url=f"{reverse('analytics:sessions-export')}?{export_query}".rstrip("?"),
            sources=sources,
            searched=any(v for k, v in request.GET.items() if k not in {"page", "company"}),
        ),
        status=200 if results.valid else 400,
    )


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    speaker: str
    text: str
    time: str = ""
    customer: bool = False


_LINE: Final = re.compile(r"^(?:\[(\d\d:\d\d:\d\d)\]\s*)?([^:\n]{1,40}?):\s?(.*)$")
_CUSTOMER_NAMES: Final = frozenset({"customer", "client", "user", "visitor", "kunde"})


def transcript_lines(text: str) -> list[TranscriptLine]:
    """A transcript as speaker turns: "Speaker: text" or "[HH:MM:SS] Speaker: text" lines
    (the live feed's form); other lines continue the turn before them."""
    lines: list[TranscriptLine] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        match = _LINE.match(raw) if not raw.startswith((" ", "\t")) else None
        if match:
            time, speaker, said = match.groups()
            lines.append(
                TranscriptLine(
                    speaker=speaker.strip(),
                    text=said,
                    time=time or "",
                    customer=speaker.strip().lower() in _CUSTOMER_NAMES,
                )
            )
        elif lines:
            last = lines[-1]
            lines[-1] = TranscriptLine(
                last.speaker, f"{last.text}\n{raw.strip()}", last.time, last.customer
            )
        elif raw.strip():
            lines.append(TranscriptLine(speaker="", text=raw))
    return lines


@replica_reads
@company_page(ANALYTICS_READERS)
def session_detail(request: HttpRequest, pk: int) -> HttpResponse:
    session = get_object_or_404(
        ChatSession.objects.for_company(page_company(request)).select_related("data_source"),
        pk=pk,
    )
    duration = (session.end_time - session.start_time).total_seconds()
    return render(
        request,
        "analytics/session.html",
        _context(
            request,
            "sessions",
            session=session,
            duration=duration,
            lines=transcript_lines(session.full_transcript),
        ),
    )


# --- the chat management dashboard ---------------------------------------------------------


def _chat_window(request: HttpRequest) -> tuple[chat_dashboard.Window, DateRangeForm]:
    today = timezone.now().astimezone(dt.UTC).date()
    form = DateRangeForm(request.GET or None)
    window = chat_dashboard.Window.last_days(CHAT_DASHBOARD_DEFAULT_DAYS, today)
    if form.is_bound and form.is_valid():
        first = form.cleaned_data["date_from"]
        last = form.cleaned_data["date_to"] or today
        if first is None:
            first = last - dt.timedelta(days=CHAT_DASHBOARD_DEFAULT_DAYS - 1)
        first = max(first, last - dt.timedelta(days=CHAT_DASHBOARD_MAX_DAYS - 1))
        window = chat_dashboard.Window(first, last)
    return window, form


@replica_reads
@company_page(CHAT_DASHBOARD_ROLES)
def chat_dashboard_page(request: HttpRequest) -> HttpResponse:
    """SLA compliance over time, response and resolution times, agents, the queue now and
    the breaches, for supervisors and admins."""
    company = page_company(request)
    window, form = _chat_window(request)
    now = timezone.now()
    sla = chat_dashboard.sla_series(company.pk, window)
    range_query = f"date_from={window.first_day}&date_to={window.last_day}"
    query = "&".join(p for p in (range_query, company_query(request)) if p)
    intervals_query = "&".join(
        p
        for p in (
            urlencode({"from": window.start.isoformat(), "to": window.end.isoformat()}),
            company_query(request),
        )
        if p
    )
    return render(
        request,
        "analytics/chat_dashboard.html",
        _context(
            request,
            "chat-dashboard",
            window=window,
            range_form=form,
            sla=sla,
            agents=chat_dashboard.agent_table(company.pk, window),
            labels=chat_dashboard.label_table(company.pk, window),
            queues=queue_history.queue_table(company.pk, window.start, window.end),
            queue=chat_dashboard.queue_now(company.pk, now),
            breaches=chat_dashboard.breaches(company.pk, now),
            now=now,
            # Rows link to what they name where the viewer may open it: the chat's and the
            # person's admin pages (supervisors have no page of a single chat or agent).
            admin_links=may_open(_user(request), "admin"),
            metrics_url=f"{reverse('chat-dashboard:metrics-export')}?{query}",
            sessions_export_url=f"{reverse('analytics:sessions-export')}?{query}",
            intervals_url=f"{reverse('api-metrics-intervals-csv')}?{intervals_query}",
        ),
    )


@replica_reads
@company_page(CHAT_DASHBOARD_ROLES)
def metrics_export(request: HttpRequest) -> HttpResponseBase:
    """The daily roll-ups of the chosen days as CSV (``?agents=0``: company rows only)."""
    window, form = _chat_window(request)
    if form.is_bound and not form.is_valid():
        return HttpResponse(
            "Bad date range: " + "; ".join(str(e) for e in form.errors.values()),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    return metrics_csv(
        request,
        page_company(request).pk,
        window.first_day,
        window.last_day,
        agents=request.GET.get("agents") != "0",
    )


@extend_schema(exclude=True)
class SessionExportPage(SessionExportView):
    """The API's session export, mounted under ``/analytics/`` for the pages' download links
    (same view, same filters and escaping; kept out of the OpenAPI schema, which documents
    ``/api/v1/sessions/export.csv``)."""
