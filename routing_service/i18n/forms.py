"""The preferences form: the user's language and time zone."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from routing_service.i18n.zones import time_zone_choices, validate_time_zone


class PreferencesForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), required=False)
    time_zone = forms.ChoiceField(
        label=_("Time zone"), required=False, validators=[validate_time_zone]
    )

    def __init__(self, *args: Any, company_time_zone: str = "UTC", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        language = self.fields["language"]
        zone = self.fields["time_zone"]
        assert isinstance(language, forms.ChoiceField) and isinstance(zone, forms.ChoiceField)
        language.choices = [
            ("", _("The browser's language")),
            *settings.LANGUAGES,
        ]
        zone.choices = [
            ("", _("The company's time zone (%(zone)s)") % {"zone": company_time_zone}),
            *time_zone_choices(),
        ]
