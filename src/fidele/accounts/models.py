from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from fidele.core import permissions


class User(AbstractUser):
    class Role(models.TextChoices):
        OWNER = permissions.OWNER, _("Owner")
        MARKETER = permissions.MARKETER, _("Marketer")
        VIEWER = permissions.VIEWER, _("Viewer")

    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.VIEWER)
    language = models.CharField(_("language"), max_length=8, blank=True)

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    @property
    def can_edit(self) -> bool:
        return permissions.can_edit(self)
