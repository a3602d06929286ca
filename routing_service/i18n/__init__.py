"""Language and time zone of each request: the user's choice, else the browser's.

Settings (LANGUAGES, LOCALE_PATHS, the locale middleware) live in routing_service/settings.py;
catalogues in locale/<lang>/LC_MESSAGES/ (django.po for Python and templates, djangojs.po for
frontend_static/); the browser reads its catalogue from `/jsi18n/<lang>/`.
"""
