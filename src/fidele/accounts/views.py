"""User management, for owners only (a marketer or viewer gets 403 on every one of these); and the
login page's answer to a locked-out login (django-axes)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.db.models import Case, IntegerField, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from fidele.accounts import services
from fidele.accounts.forms import PasswordSetForm, UserCreateForm, UserEditForm
from fidele.accounts.models import User
from fidele.core.permissions import OWNER, require_role


def login_attempt_username(request: HttpRequest, credentials: Any = None) -> str:
    """The username django-axes counts a login attempt against (settings.AXES_USERNAME_CALLABLE):
    what was typed, cut to a username's longest (150), so that a long one is one more failed
    login rather than a database error on axes' own column."""
    typed = credentials.get("username") if credentials else request.POST.get("username")
    return str(typed or "")[: User._meta.get_field("username").max_length]


def login_locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """django-axes' answer to a login attempt from a locked-out address or for a locked-out
    account (settings.AXES_LOCKOUT_CALLABLE): the login page again, saying why and for how
    long, with 429 Too Many Requests. The username typed is not echoed back."""
    minutes = max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))
    message = ngettext(
        "Too many failed login attempts. Logging in is blocked for %(minutes)s minute: "
        "try again later, or ask an owner of this Fidèle to set a new password for you.",
        "Too many failed login attempts. Logging in is blocked for %(minutes)s minutes: "
        "try again later, or ask an owner of this Fidèle to set a new password for you.",
        minutes,
    ) % {"minutes": minutes}
    next_url = request.POST.get("next", "") if request.method == "POST" else ""
    return render(
        request,
        "accounts/login.html",
        {"form": AuthenticationForm(request), "locked_out": message, "next": next_url},
        status=429,
    )


def _apply_errors(form, error: ValidationError) -> None:
    for message in error.messages:
        form.add_error(None, message)


@require_role(OWNER)
def user_list(request: HttpRequest) -> HttpResponse:
    role_rank = Case(
        When(role=User.Role.OWNER, then=Value(0)),
        When(role=User.Role.MARKETER, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    users = User.objects.order_by("-is_active", role_rank, "username")
    return render(request, "accounts/users.html", {"users": users})


@require_role(OWNER)
def user_create(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.user_create(
                actor=request.user,
                username=data["username"],
                password=data["password1"],
                role=data["role"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                email=data["email"],
            )
        except ValidationError as error:
            form.add_error("password1", error)
        else:
            messages.success(
                request,
                _("%(name)s can now log in. Give them their username and password.")
                % {"name": user.get_full_name() or user.username},
            )
            return redirect("accounts:users")
    return render(request, "accounts/user_form.html", {"form": form})


@require_role(OWNER)
def user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_object_or_404(User, pk=pk)
    initial = {
        "first_name": account.first_name,
        "last_name": account.last_name,
        "email": account.email,
        "role": account.role,
    }
    form = UserEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_update(actor=request.user, user=account, **form.cleaned_data)
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, _("Changes saved."))
            return redirect("accounts:users")
    return render(request, "accounts/user_form.html", {"form": form, "account": account})


@require_role(OWNER)
def user_password(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_object_or_404(User, pk=pk)
    form = PasswordSetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_password_set(
                actor=request.user, user=account, password=form.cleaned_data["password1"]
            )
        except ValidationError as error:
            form.add_error("password1", error)
        else:
            if account.pk == request.user.pk:
                # Changing one's own password would otherwise log this session out.
                update_session_auth_hash(request, account)
            messages.success(
                request,
                _("New password set for %(name)s.")
                % {"name": account.get_full_name() or account.username},
            )
            return redirect("accounts:users")
    return render(request, "accounts/user_password.html", {"form": form, "account": account})


def _set_active(request: HttpRequest, pk: int, active: bool) -> HttpResponse:
    account = get_object_or_404(User, pk=pk)
    try:
        services.user_set_active(actor=request.user, user=account, active=active)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        name = account.get_full_name() or account.username
        if active:
            messages.success(request, _("%(name)s can log in again.") % {"name": name})
        else:
            messages.success(
                request,
                _("%(name)s can no longer log in. Their history is kept.") % {"name": name},
            )
    return redirect("accounts:users")


@require_role(OWNER)
@require_POST
def user_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    return _set_active(request, pk, active=False)


@require_role(OWNER)
@require_POST
def user_reactivate(request: HttpRequest, pk: int) -> HttpResponse:
    return _set_active(request, pk, active=True)
