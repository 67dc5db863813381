"""Writes on user accounts. Only an owner calls these (the views check); every one is audited.

The product must always keep one active owner: without one nobody can manage users or read the
audit log, and the only way back would be the command line. So any change that would leave no
active owner (demoting or deactivating the last one, themselves included) is refused.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from fidele.accounts.models import User
from fidele.core import permissions
from fidele.core.actors import Actor
from fidele.core.audit import audit_record, model_changes
from fidele.core.models import AuditLog


def _guard_last_owner(*, user: User, role: str, active: bool) -> None:
    """Refuse a change that would leave no active owner. Call inside a transaction."""
    stays_owner = role == permissions.OWNER and active
    if stays_owner or not (user.is_active and user.role == permissions.OWNER):
        return
    # Lock the owners' rows so that two owners demoting each other at the same moment cannot
    # both succeed.
    owners = list(
        User.objects.select_for_update()
        .filter(role=permissions.OWNER, is_active=True)
        .values_list("pk", flat=True)
    )
    if not [pk for pk in owners if pk != user.pk]:
        raise ValidationError(
            _(
                "%(name)s is the last active owner: make another user owner first, so that "
                "someone can still manage users."
            )
            % {"name": user.get_full_name() or user.username},
            code="last_owner",
        )


def _label(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "role": user.role,
    }


def user_create(
    *,
    actor: Actor,
    username: str,
    password: str,
    role: str,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
) -> User:
    if role not in User.Role.values:
        raise ValidationError(_("Unknown role."), code="role")
    user = User(
        username=username,
        first_name=first_name,
        last_name=last_name,
        email=email.strip().lower(),
        role=role,
    )
    validate_password(password, user=user)
    user.set_password(password)
    with transaction.atomic():
        user.save()
        audit_record(
            actor=actor,
            action=AuditLog.Action.CREATE,
            obj=user,
            object_repr=user.username,
            changes={key: [None, value] for key, value in _label(user).items() if value},
        )
    return user


def user_update(
    *,
    actor: Actor,
    user: User,
    first_name: str,
    last_name: str,
    email: str,
    role: str,
) -> User:
    if role not in User.Role.values:
        raise ValidationError(_("Unknown role."), code="role")
    values = {
        "first_name": first_name,
        "last_name": last_name,
        "email": email.strip().lower(),
        "role": role,
    }
    with transaction.atomic():
        _guard_last_owner(user=user, role=role, active=user.is_active)
        changes = model_changes(user, values)
        if not changes:
            return user
        for field, value in values.items():
            setattr(user, field, value)
        user.save(update_fields=[*changes])
        audit_record(
            actor=actor,
            action=AuditLog.Action.UPDATE,
            obj=user,
            object_repr=user.username,
            changes=changes,
        )
    return user


def user_set_active(*, actor: Actor, user: User, active: bool) -> User:
    """Deactivate (the user can no longer log in; their history stays) or reactivate."""
    if user.is_active == active:
        return user
    with transaction.atomic():
        _guard_last_owner(user=user, role=user.role, active=active)
        user.is_active = active
        user.save(update_fields=["is_active"])
        audit_record(
            actor=actor,
            action=AuditLog.Action.UPDATE,
            obj=user,
            object_repr=user.username,
            changes={"is_active": [not active, active]},
        )
    return user


def user_password_set(*, actor: Actor, user: User, password: str) -> User:
    """Set a new password chosen by the owner (who passes it on to the user)."""
    validate_password(password, user=user)
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        # Never the password or its hash: only the fact that it changed.
        audit_record(
            actor=actor,
            action=AuditLog.Action.UPDATE,
            obj=user,
            object_repr=user.username,
            changes={"password": "changed"},
        )
    return user
