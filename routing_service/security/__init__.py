"""Who may reach what: the client address behind proxies, login throttling (web, admin and API
token logins), and the admin site that applies it.

Response headers (Content-Security-Policy, HSTS, secure cookies) are settings
(`routing_service/settings.py`, "Security"); `/metrics` access lives with the metrics
(`routing_service/observability/metrics.py`), the API docs' with the API (`api/docs.py`).
"""
