"""Roles and what they may do. Checked on every view (the decorator) and in templates.

owner    everything, including managing users and reading the audit log
marketer reads and writes customer data, imports, exports, campaigns
viewer   reads only
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

OWNER = "owner"
MARKETER = "marketer"
VIEWER = "viewer"

_RANK = {VIEWER: 0, MARKETER: 1, OWNER: 2}


def has_role(user: Any, minimum: str) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    role = OWNER if user.is_superuser else getattr(user, "role", VIEWER)
    return _RANK.get(role, -1) >= _RANK[minimum]


def can_edit(user: Any) -> bool:
    return has_role(user, MARKETER)


def can_manage_users(user: Any) -> bool:
    return has_role(user, OWNER)


def require_role(minimum: str) -> Callable:
    """Decorator for function views: 403 unless the user has at least `minimum`."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not has_role(request.user, minimum):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapped.required_role = minimum  # type: ignore[attr-defined]
        return wrapped

    return decorator


class PermissionDeniedLogFilter(logging.Filter):
    """Logging filter for `django.request` (settings.LOGGING): a PermissionDenied is an expected
    answer (a role that may not do this), so its record keeps its one line ("Forbidden
    (Permission denied): /path") and loses the traceback Django attaches to it. Every other
    record, a real error's traceback included, passes unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc_info = record.exc_info
        if exc_info and isinstance(exc_info[1], PermissionDenied):
            record.exc_info = None
            record.exc_text = None
        return True
