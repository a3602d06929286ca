"""Django's password forms, saving through `tenancy.actions.change_password`.

Every one of Django's password forms (the admin's "change password" of a user and of oneself,
`PasswordChangeView`, `PasswordResetConfirmView`) saves with `set_password_and_save`; these
subclasses route it through the action, so a password changed on any page also rotates the
user's API tokens and closes their sockets. Views of this project that change passwords use
these forms (pass `form_class=`), never Django's own.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import forms as auth_forms

from routing_service.tenancy.actions import change_password
from routing_service.tenancy.models import User


class _ThroughChangePassword:
    """`set_password_and_save` as the action; `commit=False` (nobody here) is refused, since
    the revocation cannot be split from the write."""

    cleaned_data: dict[str, Any]

    def set_password_and_save(
        self,
        user: User,
        password_field_name: str = "password1",  # noqa: S107 -- a field name
        commit: bool = True,
    ) -> User:
        if not commit:
            raise ValueError("Password forms save through change_password: commit=False.")
        return change_password(user, self.cleaned_data[password_field_name])


class SetPasswordForm(_ThroughChangePassword, auth_forms.SetPasswordForm):
    """For a password reset's last step (`PasswordResetConfirmView(form_class=...)`)."""


class PasswordChangeForm(_ThroughChangePassword, auth_forms.PasswordChangeForm):
    """For a signed-in user changing their own password (old password required)."""


class AdminPasswordChangeForm(_ThroughChangePassword, auth_forms.AdminPasswordChangeForm):
    """The admin's "change password" of a user, which may also make the password unusable."""

    def set_password_and_save(
        self,
        user: User,
        password_field_name: str = "password1",  # noqa: S107 -- a field name
        commit: bool = True,
    ) -> User:
        if not self.cleaned_data.get("set_usable_password", True):
            if not commit:
                raise ValueError("Password forms save through change_password: commit=False.")
            return change_password(user, None)
        return super().set_password_and_save(user, password_field_name, commit)


class AdminSelfPasswordChangeForm(PasswordChangeForm):
    """The admin site's own "change my password" page (`admin:password_change`)."""

    required_css_class = "required"
