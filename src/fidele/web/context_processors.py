from django.http import HttpRequest

from fidele.core import permissions


def navigation(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    return {
        "can_edit": permissions.can_edit(user),
        "is_owner": permissions.can_manage_users(user),
    }
