"""The company-scoped manager every tenant model uses.

Forgetting the scope is made hard twice over:

* inside a request or consumer that has an active company (see `tenancy.context`), the default
  manager — and therefore every related manager, admin filter and form choice built on it —
  only ever sees that company's rows;
* code that acts for a company names it explicitly with `Model.objects.for_company(company)`.

System processes (router, SLA timer, workers) have no active company; they work on ids they
were given and always filter by the company those rows carry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from django.db import models

from routing_service.tenancy.context import get_active_company

if TYPE_CHECKING:
    from routing_service.tenancy.models import Company

_M = TypeVar("_M", bound=models.Model)


class CompanyQuerySet(models.QuerySet[_M]):
    def for_company(self, company: Company | int) -> CompanyQuerySet[_M]:
        company_id = company if isinstance(company, int) else company.pk
        return self.filter(company_id=company_id)


class CompanyScopedManager(models.Manager[_M]):
    """Default manager of tenant models: scoped to the active company when there is one."""

    _queryset_class = CompanyQuerySet

    def get_queryset(self) -> CompanyQuerySet[_M]:
        qs: CompanyQuerySet[_M] = CompanyQuerySet(self.model, using=self._db)
        company = get_active_company()
        if company is not None:
            qs = qs.filter(company_id=company.pk)
        return qs

    def for_company(self, company: Company | int) -> CompanyQuerySet[_M]:
        return self.get_queryset().for_company(company)

    def unscoped(self) -> CompanyQuerySet[_M]:
        """Every company's rows: for system processes and superadmin tooling only."""
        return CompanyQuerySet(self.model, using=self._db)


class TenantModel(models.Model):
    """Abstract base of every row that belongs to a company."""

    company = models.ForeignKey(
        "tenancy.Company", on_delete=models.CASCADE, related_name="+", db_index=False
    )

    objects = CompanyScopedManager()

    class Meta:
        abstract = True
