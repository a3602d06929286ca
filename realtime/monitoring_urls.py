"""`/conversations/`: the supervisors' live list and the live view of one chat."""

from __future__ import annotations

from django.urls import path

from realtime import monitoring_views

app_name = "conversations"

urlpatterns = [
    path("", monitoring_views.conversation_list, name="list"),
    path("<int:conversation_id>/", monitoring_views.conversation_detail, name="detail"),
]
