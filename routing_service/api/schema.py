"""The OpenAPI schema documents every status an operation can answer, errors included.

drf-spectacular documents each operation's success answer from its serializer. The error
answers come from machinery every view shares — authentication, the role table, the company
scope, field validation, pagination, the JSON exception handler — so they are added here, from
what the operation is, instead of being repeated (and forgotten) in each ``@extend_schema``:

======  ======================================================================================
401     needs credentials and none (or bad ones) were sent
403     needs credentials: a role the operation does not allow, a chat that is not yours, or a
        session write without its CSRF token
404     has a path parameter (no such row, or another company's: never "forbidden"), or is a
        paginated list (a page past the end)
400     takes a request body or query parameters: the fields at fault
409     an authenticated write: the state moved on (a chat action) or a constraint raced
415     takes a request body: sent in a content type it does not parse
======  ======================================================================================

An ``@extend_schema(responses=...)`` entry for a status wins over the default here. The check
that this table is complete is ``tests/api/test_openapi_conformance.py`` (schemathesis).

Query parameters are described as the API reads them: every optional one is marked
``allowEmptyValue`` (``?status=`` is no filter at all, as HTML forms — the analytics pages share
these filters — send it), and free text cannot hold NUL (Django's form fields refuse it).
"""

from __future__ import annotations

from typing import Any, Final

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ComponentRegistry, ResolvedComponent
from drf_spectacular.utils import OpenApiResponse

__all__ = ["SwitchboardAutoSchema", "field_errors"]

_ERROR: Final = {
    "type": "object",
    "description": (
        "An error: `detail` says what went wrong; refused chat actions add a machine-readable "
        "`code` and the field at fault with its messages."
    ),
    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}
_FIELD_ERRORS: Final = {
    "type": "object",
    "description": (
        "Each field at fault with its messages (a list of strings; an object or a list of "
        "objects for nested fields); `non_field_errors` for the input as a whole. Refused "
        "chat actions add `code` and `detail`."
    ),
    "additionalProperties": {},
}
_UNSAFE: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_NO_NUL: Final = "^[^\\u0000]*$"


def field_errors(description: str) -> OpenApiResponse:
    """A 400 the table above does not foresee, for ``@extend_schema(responses={400: ...})``."""
    return OpenApiResponse(
        response={"$ref": "#/components/schemas/ValidationError"}, description=description
    )


class SwitchboardAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema plus the error answers of the table above."""

    def get_operation(
        self,
        path: str,
        path_regex: str,
        path_prefix: str,
        method: str,
        registry: ComponentRegistry,
    ) -> dict[str, Any] | None:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "query":
                continue
            if not parameter.get("required"):
                parameter["allowEmptyValue"] = True
            schema = parameter.get("schema", {})
            if schema.get("type") == "string" and not schema.keys() & {"enum", "format"}:
                schema.setdefault("pattern", _NO_NUL)
        responses: dict[str, Any] = operation["responses"]
        for status, (schema, description) in self._errors(operation).items():
            responses.setdefault(
                status,
                {
                    "description": description,
                    "content": {"application/json": {"schema": schema}},
                },
            )
        return operation

    def _errors(self, operation: dict[str, Any]) -> dict[str, tuple[dict[str, Any], str]]:
        error = self._component("Error", _ERROR)
        field_errors = self._component("ValidationError", _FIELD_ERRORS)
        parameters = operation.get("parameters", [])
        in_path = any(p["in"] == "path" for p in parameters)
        in_query = any(p["in"] == "query" for p in parameters)
        has_body = "requestBody" in operation
        security = operation.get("security", [])
        authenticated = bool(security) and {} not in security
        paginated = self.method == "GET" and any(p["name"] == "page" for p in parameters)

        errors: dict[str, tuple[dict[str, Any], str]] = {}
        if has_body or in_query:
            errors["400"] = (field_errors, "Invalid input: the fields at fault.")
        if authenticated:
            errors["401"] = (error, "No credentials, or invalid ones.")
            errors["403"] = (error, "Not allowed for your role (or not yours to act on).")
        if in_path or paginated:
            errors["404"] = (
                error,
                "Not found (or another company's)." if in_path else "No such page.",
            )
        if authenticated and self.method in _UNSAFE:
            errors["409"] = (error, "Conflicts with the current state.")
        if has_body:
            errors["415"] = (error, "A content type this operation does not parse.")
        return errors

    def _component(self, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        component = ResolvedComponent(
            name=name, type=ResolvedComponent.SCHEMA, schema=schema, object=name
        )
        self.registry.register_on_missing(component)
        return component.ref
