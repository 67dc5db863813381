"""The app's navigation: a few sections in the top bar, and the pages of the current section in
a bar below it. One owner for where each page sits, so that a new page is one line here, not
one more entry squeezed into a top bar that must fit a 1280-pixel laptop in French."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Page:
    label: object  # a lazy translation
    url: str
    # Other paths that belong to this page (the exports belong to the contacts).
    also: tuple[str, ...] = ()
    needs: str = ""  # "edit" or "owner": shown only to those who may use it

    def holds(self, path: str) -> bool:
        if self.url == "/":
            return path == "/"
        return any(path.startswith(prefix) for prefix in (self.url, *self.also))


@dataclass(frozen=True)
class Section:
    label: object
    pages: tuple[Page, ...] = field(default_factory=tuple)
    needs: str = ""


SECTIONS: tuple[Section, ...] = (
    Section(_("Overview"), (Page(_("Overview"), "/"),)),
    Section(
        _("Contacts"),
        (
            Page(_("Contacts"), "/contacts/", also=("/exports/",)),
            Page(_("Orders"), "/orders/"),
            Page(_("Import"), "/imports/", needs="edit"),
            Page(_("Quality"), "/quality/"),
        ),
    ),
    Section(
        _("Customers"),
        (
            Page(_("RFM and personas"), "/customers/"),
            Page(_("Customer value"), "/analytics/customer-value/"),
            Page(_("Segments"), "/segments/"),
            Page(_("Base dynamics"), "/analytics/dynamics/"),
        ),
    ),
    Section(_("Campaigns"), (Page(_("Campaigns"), "/campaigns/", also=("/delivery/",)),)),
    Section(_("Website"), (Page(_("Website"), "/analytics/website/"),)),
    Section(
        _("Administration"),
        (
            Page(_("Users"), "/accounts/users/", needs="owner"),
            Page(_("Audit log"), "/audit/", needs="owner"),
        ),
        needs="owner",
    ),
)


@dataclass(frozen=True)
class Link:
    label: object
    url: str
    current: bool


@dataclass(frozen=True)
class SectionLink(Link):
    pages: tuple[Link, ...] = ()


def navigation_for(path: str, *, can_edit: bool, is_owner: bool) -> list[SectionLink]:
    """The sections this user sees, each linking to its first page, with its pages (the
    current section's are drawn below the top bar)."""

    def allowed(needs: str) -> bool:
        return not needs or (needs == "edit" and can_edit) or (needs == "owner" and is_owner)

    sections = []
    for section in SECTIONS:
        pages = [page for page in section.pages if allowed(page.needs)]
        if not allowed(section.needs) or not pages:
            continue
        links = tuple(Link(page.label, page.url, page.holds(path)) for page in pages)
        sections.append(
            SectionLink(
                section.label, pages[0].url, any(link.current for link in links), pages=links
            )
        )
    return sections
