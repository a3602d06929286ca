"""`manage.py changepassword [<username>]`: Django's command, saving through the action.

Django's own ends with `set_password()` and `save()`, which would leave the user's API tokens
and open websockets alive; this one prompts and validates the same way (its arguments and
prompt are inherited), then calls `tenancy.actions.change_password`. It replaces Django's
because the tenancy app comes before `django.contrib.auth` in INSTALLED_APPS.
"""

from __future__ import annotations

import getpass
from typing import Any

from django.contrib.auth.management.commands import changepassword
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from routing_service.tenancy.actions import change_password
from routing_service.tenancy.models import User

MAX_TRIES = 3


class Command(changepassword.Command):
    help = "Change a user's password; their API tokens and open websockets end with the old one."

    def handle(self, *args: Any, **options: Any) -> str:
        username = options["username"] or getpass.getuser()
        try:
            user = User.objects.using(options["database"]).get(username=username)
        except User.DoesNotExist:
            raise CommandError(f"user '{username}' does not exist") from None

        self.stdout.write(f"Changing password for user '{user}'")
        for _ in range(MAX_TRIES):
            first = self._get_pass()  # type: ignore[attr-defined]  # Django's, not in the stubs
            if first != self._get_pass("Password (again): "):  # type: ignore[attr-defined]
                self.stdout.write("Passwords do not match. Please try again.")
                continue
            try:
                validate_password(first, user)
            except ValidationError as err:
                self.stderr.write("\n".join(err.messages))
                continue
            change_password(user, first)
            return f"Password changed successfully for user '{user}'"
        raise CommandError(f"Aborting password change for user '{user}' after {MAX_TRIES} attempts")
