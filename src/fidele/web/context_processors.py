from django.http import HttpRequest

from fidele.core import permissions
from fidele.web.navigation import navigation_for


def navigation(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    can_edit = permissions.can_edit(user)
    is_owner = permissions.can_manage_users(user)
    sections = navigation_for(request.path, can_edit=can_edit, is_owner=is_owner)
    current = next((section for section in sections if section.current), None)
    return {
        "can_edit": can_edit,
        "is_owner": is_owner,
        "nav_sections": sections,
        # A section of one page needs no second bar.
        "nav_pages": current.pages if current and len(current.pages) > 1 else (),
    }
