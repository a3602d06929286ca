"""Saved dashboards: the writes the analytics pages make (create, change, delete).

Data sources are checked against the dashboard's company here, not only in the form, so no
caller can tie a dashboard to another company's data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import transaction

from analytics.models import Dashboard, DataSource
from routing_service.tenancy.models import Company, User

__all__ = ["delete_dashboard", "save_dashboard"]


class ForeignDataSource(ValueError):
    """A data source of another company was named."""


@transaction.atomic
def save_dashboard(
    *,
    company: Company,
    name: str,
    data_sources: Iterable[DataSource],
    include_live: bool,
    date_from: dt.date | None,
    date_to: dt.date | None,
    last_days: int,
    dashboard: Dashboard | None = None,
    created_by: User | None = None,
) -> Dashboard:
    """Create a dashboard (``dashboard`` None) or change one of ``company``'s."""
    sources = list(data_sources)
    if any(source.company_id != company.pk for source in sources):
        raise ForeignDataSource("A dashboard can only use its own company's data sources.")
    if dashboard is None:
        dashboard = Dashboard(company=company, created_by=created_by)
    elif dashboard.company_id != company.pk:
        raise ValueError("The dashboard belongs to another company.")
    dashboard.name = name
    dashboard.include_live = include_live
    dashboard.date_from = date_from
    dashboard.date_to = date_to
    dashboard.last_days = last_days
    dashboard.save()
    dashboard.data_sources.set(sources)
    return dashboard


def delete_dashboard(dashboard: Dashboard) -> None:
    dashboard.delete()
