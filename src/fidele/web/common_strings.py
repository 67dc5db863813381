"""Words used on many screens, translated here once.

The web app's catalogue is in LOCALE_PATHS, so its translations win over those of Django and of
third-party apps: without this, "Email" shows as Django's "Courriel" on one screen and our
"E-mail" on the next.
"""

from django.utils.translation import gettext_noop

COMMON_STRINGS = (
    gettext_noop("Email"),
    gettext_noop("email"),
    gettext_noop("Edit"),
    gettext_noop("Delete"),
    gettext_noop("Save"),
    gettext_noop("Cancel"),
    gettext_noop("Search"),
    gettext_noop("Name"),
    gettext_noop("Status"),
    gettext_noop("Phone"),
    gettext_noop("Yes"),
    gettext_noop("No"),
)
