"""Audit of logins, and of failed logins.

Django announces a login through the `user_logged_in` signal whichever view did it, so listening
there covers the login page today and any other login path later (API session, SSO) without
wrapping each view; the receiver only calls `audit_record`, it holds no logic of its own.

Only interactive logins are recorded: the request must carry credentials (a POST). Test helpers
and shells log users in with `force_login`, whose request has no method; recording those would
fill the trail with logins nobody made.

A failed login (`user_login_failed`, also sent while django-axes refuses a locked-out attempt) is
recorded with the System as actor, the username that was typed as its label and object, and the
address it came from. Never the password: Django has already masked it in the credentials, and
only the username is read from them.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from fidele.core.actors import System
from fidele.core.audit import audit_record
from fidele.core.http import client_ip
from fidele.core.models import AuditLog


@receiver(user_logged_in, dispatch_uid="fidele.core.audit_login")
def audit_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is None or getattr(request, "method", None) != "POST":
        return
    audit_record(
        actor=user,
        action=AuditLog.Action.LOGIN,
        obj=user,
        object_repr=user.get_username(),
        ip_address=client_ip(request),
    )


LOGIN_PAGE = System("login page")


@receiver(user_login_failed, dispatch_uid="fidele.core.audit_login_failed")
def audit_login_failed(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
    if request is None:
        return
    username = str((credentials or {}).get("username") or "")[:150]
    users = get_user_model()
    # The account tried, when it exists (the audit log page then links to it).
    account_id = (
        users._default_manager.filter(**{users.USERNAME_FIELD: username})
        .values_list("pk", flat=True)
        .first()
        if username
        else None
    )
    audit_record(
        actor=LOGIN_PAGE,
        actor_label=username or LOGIN_PAGE.label,
        action=AuditLog.Action.LOGIN_FAILED,
        object_type=users._meta.label_lower,
        object_id=account_id or "",
        object_repr=username,
        ip_address=client_ip(request),
    )
