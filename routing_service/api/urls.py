"""/api/v1/ routes."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import DefaultRouter

from analytics import api_urls as analytics_api
from routing_service.api.auth import ObtainTokenView, RevokeTokensView, WsTicketView
from routing_service.api.channels import ChannelViewSet
from routing_service.api.chats import (
    AgentStatusView,
    AssignmentViewSet,
    ConversationViewSet,
    NotificationViewSet,
)
from routing_service.api.companies import CompanyViewSet
from routing_service.api.metrics import DailyMetricsView, LiveMetricsView
from routing_service.api.monitoring import (
    ConversationExportView,
    MessageExportView,
    TranscriptExportView,
)
from routing_service.api.queue_intervals import QueueIntervalsCSVView, QueueIntervalsView
from routing_service.api.queues import QueueRuleViewSet, QueueViewSet
from routing_service.api.routing_policy import RoutingPolicyView
from routing_service.api.sla import SLAPolicyViewSet
from routing_service.api.users import UserViewSet
from routing_service.api.workspace import CannedResponseViewSet, ClientViewSet, LabelViewSet
from routing_service.attachments.views import AttachmentUploadView
from routing_service.retention.api import ClientErasureView, RetentionPolicyView

urlpatterns: list[URLPattern | URLResolver] = [
    path("auth/token/", ObtainTokenView.as_view(), name="api-token"),
    path("auth/token/revoke/", RevokeTokensView.as_view(), name="api-token-revoke"),
    path("ws-ticket/", WsTicketView.as_view(), name="api-ws-ticket"),
    path("routing-policy/", RoutingPolicyView.as_view(), name="api-routing-policy"),
    path("retention-policy/", RetentionPolicyView.as_view(), name="api-retention-policy"),
    path("clients/<int:pk>/erase/", ClientErasureView.as_view(), name="api-client-erase"),
    path("agents/<int:agent_id>/status/", AgentStatusView.as_view(), name="api-agent-status"),
    path("metrics/", LiveMetricsView.as_view(), name="api-metrics-live"),
    path("metrics/daily/", DailyMetricsView.as_view(), name="api-metrics-daily"),
    path("metrics/intervals/", QueueIntervalsView.as_view(), name="api-metrics-intervals"),
    path(
        "metrics/intervals.csv", QueueIntervalsCSVView.as_view(), name="api-metrics-intervals-csv"
    ),
    path("attachments/", AttachmentUploadView.as_view(), name="api-attachments"),
    # Plain paths with a file extension (no trailing slash), like sessions/export.csv.
    path(
        "conversations/export.csv",
        ConversationExportView.as_view(),
        name="api-conversations-export",
    ),
    path("messages/export.csv", MessageExportView.as_view(), name="api-messages-export"),
    path(
        "conversations/<int:pk>/transcript.<str:fmt>",
        TranscriptExportView.as_view(),
        name="conversation-transcript",
    ),
    *analytics_api.urlpatterns,
]
router = DefaultRouter(trailing_slash=True)
router.register("companies", CompanyViewSet, basename="company")
router.register("users", UserViewSet, basename="user")
router.register("channels", ChannelViewSet, basename="channel")
router.register("sla-policies", SLAPolicyViewSet, basename="sla-policy")
router.register("queues", QueueViewSet, basename="queue")
router.register("queue-rules", QueueRuleViewSet, basename="queue-rule")
router.register("conversations", ConversationViewSet, basename="conversation")
router.register("assignments", AssignmentViewSet, basename="assignment")
router.register("notifications", NotificationViewSet, basename="notification")
router.register("labels", LabelViewSet, basename="label")
router.register("canned-responses", CannedResponseViewSet, basename="canned-response")
router.register("clients", ClientViewSet, basename="client")
analytics_api.register(router)
urlpatterns += router.urls
