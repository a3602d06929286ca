"""`{% site_nav %}`: the shared navigation and colour-scheme toggle of every page's top bar.

The links are `tenancy.pages.pages_for(user)`: exactly the pages the person's role may open
(the views check the same sets). A superadmin looking at one company (a page whose context
has `company`) keeps it when moving between that company's pages.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.http import HttpRequest
from django.utils.http import urlencode

from routing_service.tenancy.models import Company, Theme, User
from routing_service.tenancy.pages import pages_for

register = template.Library()


def _link(page_path: str, per_company: bool, user: User, company: Any) -> str:
    if per_company and user.is_superadmin and isinstance(company, Company):
        return f"{page_path}?{urlencode({'company': company.pk})}"
    return page_path


@register.inclusion_tag("switchboard/site_nav_links.html", takes_context=True)
def site_nav(context: template.Context, fixed_theme: bool = False) -> dict[str, Any]:
    """Links for the signed-in person, the page marked current, and the theme toggle (not on
    pages with a fixed scheme: the wallboard is always dark)."""
    request: HttpRequest | None = context.get("request")
    user = getattr(request, "user", None)
    if request is None or not isinstance(user, User) or not user.is_authenticated:
        return {"items": [], "toggle": False}
    company = context.get("company")
    items = [
        {
            "key": page.key,
            "title": page.title,
            "url": _link(page.path, page.per_company, user, company),
            "current": request.path.startswith(page.path),
        }
        for page in pages_for(user)
    ]
    return {
        "items": items,
        "toggle": not fixed_theme,
        "themes": Theme.choices,
        "theme": user.theme,
        "next": request.get_full_path(),
        "csrf_token": context.get("csrf_token"),
    }
