"""Serving attachments through signed URLs, and the upload endpoint for outgoing files.

`/attachments/<token>/` — staff only: a logged-in user of the token's company (or a
superadmin); another company's token is a 404, an expired one a 410. `/attachments/public/<token>/`
— for providers fetching an agent's file (no login; the signature is the credential).

Files are streamed from storage (`FileResponse`), never read whole. The answer is hardened for
content from strangers: the sniffed type only, `nosniff`, a sandboxing CSP, and `inline` only
for what a browser shows without running anything (images, audio, video, PDF).
"""

from __future__ import annotations

from typing import Any

from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
)
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from routing_service.api.chats import CHAT_WORKERS, ActionRefused
from routing_service.api.mixins import CompanyScopedMixin
from routing_service.attachments import actions, signing, storage
from routing_service.attachments.models import Attachment, AttachmentStatus
from routing_service.chats.actions.errors import ActionError
from routing_service.tenancy.models import User

INLINE_MAJOR_TYPES = ("image/", "audio/", "video/")
SANDBOX_CSP = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox"


@require_GET
def attachment_file(request: HttpRequest, token: str) -> HttpResponseBase:
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        return _refusal(403, "Log in to see attachments.")
    try:
        grant = signing.read_agent_token(token)
    except signing.BadToken as bad:
        return _refusal(410, "This link has expired.") if bad.expired else _not_found()
    if not user.is_superadmin and user.company_id != grant.company_id:
        return _not_found()  # another company's file does not exist, as far as they know
    return _serve(grant, disposition_for_agents=True)


@require_GET
def attachment_public(request: HttpRequest, token: str) -> HttpResponseBase:
    try:
        grant = signing.read_public_token(token)
    except signing.BadToken as bad:
        return _refusal(410, "This link has expired.") if bad.expired else _not_found()
    return _serve(grant, disposition_for_agents=False)


def _serve(grant: signing.Grant, *, disposition_for_agents: bool) -> HttpResponseBase:
    attachment = (
        Attachment.objects.unscoped()
        .filter(pk=grant.attachment_id, company_id=grant.company_id, status=AttachmentStatus.READY)
        .first()
    )
    if attachment is None or not attachment.storage_name:
        return _not_found()
    content_type = attachment.content_type or "application/octet-stream"
    inline = content_type.startswith(INLINE_MAJOR_TYPES) or content_type == "application/pdf"
    response = FileResponse(
        storage.open_file(attachment.storage_name),
        content_type=content_type,
        as_attachment=not inline,
        filename=attachment.name or f"file-{attachment.pk}",
    )
    if attachment.size is not None:
        response["Content-Length"] = str(attachment.size)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = SANDBOX_CSP
    response["Cache-Control"] = "private, max-age=300" if disposition_for_agents else "no-store"
    response["Cross-Origin-Resource-Policy"] = (
        "same-origin" if disposition_for_agents else ("cross-origin")
    )
    return response


def _refusal(status_code: int, detail: str) -> HttpResponse:
    return JsonResponse({"detail": detail}, status=status_code)


def _not_found() -> HttpResponse:
    return _refusal(404, "Attachment not found.")


# --- the upload API ----------------------------------------------------------------------------


class UploadSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(allow_empty_file=False)


class AttachmentSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()


class AttachmentUploadView(CompanyScopedMixin, APIView):
    """`POST /api/v1/attachments/` (multipart `file`): a file for an outgoing message.

    Checked against the company's limits (size, type from the bytes, quota); answered with its
    id, to be named in a reply's `attachment_ids`.
    """

    parser_classes = [MultiPartParser]
    serializer_class = UploadSerializer
    read_roles = CHAT_WORKERS
    write_roles = CHAT_WORKERS

    @extend_schema(
        request={"multipart/form-data": UploadSerializer}, responses={201: AttachmentSerializer}
    )
    def post(self, request: Request) -> Response:
        if self.company is None:
            return Response(
                {"company": ["Name the company (?company=<id>) to upload for."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        body = UploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        limits = actions.limits_for(self.company.pk)
        if upload.size is not None and upload.size > limits.max_bytes:
            from routing_service.attachments.rules import human_size

            return Response(
                {"file": [f"The file is larger than {human_size(limits.max_bytes)}."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            attachment = actions.store_upload(
                self.company.pk,
                self.caller.pk,
                upload.name or "",
                getattr(upload, "content_type", "") or "",
                upload,
            )
        except ActionError as error:
            raise ActionRefused(error) from error
        data = {
            "id": attachment.pk,
            "name": attachment.name,
            "content_type": attachment.content_type,
            "size": attachment.size,
        }
        return Response(data, status=status.HTTP_201_CREATED)
