from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST, require_safe
from django.views.decorators.vary import vary_on_headers

from fidele.contacts import selectors, services
from fidele.contacts.forms import (
    ContactForm,
    ContactSubscribeForm,
    ContactTagForm,
    MailingListForm,
    TagForm,
)
from fidele.contacts.models import Contact, MailingList, Tag
from fidele.core.permissions import MARKETER, VIEWER, require_role
from fidele.ui.pagination import COUNT_CAP, listing_page
from fidele.ui.params import clean_param

SEARCH_CAP = 1_000

# --- contacts ------------------------------------------------------------------------------


@require_safe
@vary_on_headers("HX-Request")
@require_role(VIEWER)
def contact_list(request: HttpRequest) -> HttpResponse:
    params = request.GET
    # A search keeps its first 1,000 matches (sorted afterwards): beyond that the person should
    # type more, and the small cap lets the database fetch the matches by primary key.
    searching = bool(clean_param(params.get("q")))
    cap = SEARCH_CAP if searching else COUNT_CAP
    queryset = selectors.contacts_filtered(params=params, search_cap=SEARCH_CAP + 1)
    sort = selectors.contacts_sort(params)
    fields, descending = selectors.SORTS[sort]
    handed_down = selectors.contact_filters_active(params)
    filters_active = bool(handed_down) or any(
        params.get(key) for key in ("q", "tag", "list", "status", "place", "has_email")
    )
    context = {
        **listing_page(
            queryset,
            params,
            fields=fields,
            descending=descending,
            cap=cap,
            page_queryset=queryset.prefetch_related("tags"),
        ),
        "sort": sort,
        "filters_active": filters_active,
        # Filters of apps above contacts (the data-quality audit's), each with its sentence.
        "handed_down_filters": handed_down,
        "tags": Tag.objects.order_by("name"),
        "lists": MailingList.objects.order_by("name"),
        "statuses": Contact.Status.choices,
        "sort_choices": [
            ("-created", _("Newest first")),
            ("created", _("Oldest first")),
            ("name", _("Name, A to Z")),
            ("-name", _("Name, Z to A")),
            ("city", _("City, A to Z")),
            ("-city", _("City, Z to A")),
        ],
    }
    # A live search asks for the results only; a history restore (back button after the cache
    # was emptied) needs the whole page even though it comes from htmx.
    partial = request.htmx and not request.htmx.history_restore_request
    template = "contacts/_results.html" if partial else "contacts/list.html"
    return render(request, template, context)


def _submitted(request: HttpRequest, form: forms.Form, save: Callable[[dict], Any]) -> Any:
    """The object `save(cleaned_data)` returns on a valid POST; None when the form is to be shown
    (again), with what the service refused put on the form."""
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        return save(form.cleaned_data)
    except services.InvalidValue as exc:
        # Tags and lists: the only refusal left after the form's checks is a name in use.
        form.add_error("name", str(exc))
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            for field, errors in exc.error_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            form.add_error(None, exc)
    return None


def _confirm_delete(
    request: HttpRequest,
    obj: Any,
    *,
    delete: Callable[[], None],
    done: str,
    done_url: str,
    title: str,
    consequence: Callable[[], str],
    cancel_url: str,
) -> HttpResponse:
    """A confirmation page on GET; on POST, the deletion, a message and the way out."""
    if request.method == "POST":
        delete()
        messages.success(request, done)
        return redirect(done_url)
    return render(
        request,
        "contacts/confirm_delete.html",
        {"object": obj, "title": title, "consequence": consequence(), "cancel_url": cancel_url},
    )


@require_role(MARKETER)
def contact_create(request: HttpRequest) -> HttpResponse:
    form = ContactForm(request.POST or None)
    contact = _submitted(
        request, form, lambda data: services.contact_create(actor=request.user, data=data)
    )
    if contact is not None:
        messages.success(request, _("Contact created."))
        return redirect("web:contact_detail", pk=contact.pk)
    return render(request, "contacts/form.html", {"form": form, "contact": None})


@require_role(MARKETER)
def contact_edit(request: HttpRequest, pk: int) -> HttpResponse:
    contact = get_object_or_404(Contact, pk=pk)
    # The form works on a copy so that a failed validation does not leave the page's header
    # showing the half-typed name.
    form = ContactForm(request.POST or None, instance=Contact.objects.get(pk=pk))
    try:
        saved = _submitted(
            request,
            form,
            lambda data: services.contact_update(
                actor=request.user,
                contact=contact,
                data=form.changes(),
                opened=form.opened_values(),
            ),
        )
    except services.EditConflict as conflict:
        form = form.after_conflict(conflict.contact, conflict.fields)
        saved = None
        contact = conflict.contact
    if saved is not None:
        messages.success(request, _("Changes saved."))
        return redirect("web:contact_detail", pk=contact.pk)
    return render(request, "contacts/form.html", {"form": form, "contact": contact})


@require_role(MARKETER)
def contact_delete(request: HttpRequest, pk: int) -> HttpResponse:
    contact = get_object_or_404(Contact, pk=pk)
    return _confirm_delete(
        request,
        contact,
        delete=lambda: services.contact_delete(actor=request.user, contact=contact),
        done=_("Contact deleted."),
        done_url=reverse("contacts:list"),
        title=_("Delete this contact?"),
        consequence=lambda: (
            ngettext(
                "The contact, their subscriptions and their %(count)s order will be deleted. "
                "This cannot be undone.",
                "The contact, their subscriptions and their %(count)s orders will be deleted. "
                "This cannot be undone.",
                count := contact.orders.count(),
            )
            % {"count": count}
        ),
        cancel_url=contact_url(contact),
    )


def contact_url(contact: Contact) -> str:
    return reverse("web:contact_detail", args=[contact.pk])


@require_POST
@require_role(MARKETER)
def contact_tag_add(request: HttpRequest, pk: int) -> HttpResponse:
    contact = get_object_or_404(Contact, pk=pk)
    form = ContactTagForm(request.POST)
    if form.is_valid():
        tag = form.cleaned_data["tag"]
        if services.contact_tag_add(actor=request.user, contact=contact, tag=tag):
            messages.success(request, _("Tag “%(tag)s” added.") % {"tag": tag.name})
    else:
        messages.error(request, _("Choose a tag to add."))
    return redirect("web:contact_detail", pk=contact.pk)


@require_POST
@require_role(MARKETER)
def contact_tag_remove(request: HttpRequest, pk: int, tag_pk: int) -> HttpResponse:
    contact = get_object_or_404(Contact, pk=pk)
    tag = get_object_or_404(Tag, pk=tag_pk)
    if services.contact_tag_remove(actor=request.user, contact=contact, tag=tag):
        messages.success(request, _("Tag “%(tag)s” removed.") % {"tag": tag.name})
    return redirect("web:contact_detail", pk=contact.pk)


@require_POST
@require_role(MARKETER)
def contact_subscribe(request: HttpRequest, pk: int) -> HttpResponse:
    contact = get_object_or_404(Contact, pk=pk)
    form = ContactSubscribeForm(request.POST)
    if form.is_valid():
        mailing_list = form.cleaned_data["mailing_list"]
        services.contact_subscribe(
            actor=request.user,
            contact=contact,
            mailing_list=mailing_list,
            note=form.cleaned_data.get("note") or "",
        )
        messages.success(request, _("Subscribed to “%(list)s”.") % {"list": mailing_list.name})
    else:
        messages.error(
            request,
            _("Choose a list and confirm that this person agreed to receive its emails."),
        )
    return redirect("web:contact_detail", pk=contact.pk)


@require_POST
@require_role(MARKETER)
def contact_unsubscribe(request: HttpRequest, pk: int, list_pk: int) -> HttpResponse:
    contact = get_object_or_404(Contact, pk=pk)
    mailing_list = get_object_or_404(MailingList, pk=list_pk)
    services.contact_unsubscribe(actor=request.user, contact=contact, mailing_list=mailing_list)
    messages.success(request, _("Unsubscribed from “%(list)s”.") % {"list": mailing_list.name})
    return redirect("web:contact_detail", pk=contact.pk)


# --- tags ----------------------------------------------------------------------------------


@require_safe
@require_role(VIEWER)
def tag_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "contacts/tags.html",
        {"tags": selectors.tags_with_counts(), "form": TagForm()},
    )


@require_role(MARKETER)
def tag_create(request: HttpRequest) -> HttpResponse:
    form = TagForm(request.POST or None)
    tag = _submitted(request, form, lambda data: services.tag_create(actor=request.user, **data))
    if tag is not None:
        messages.success(request, _("Tag “%(tag)s” created.") % {"tag": tag.name})
        return redirect("contacts:tags")
    return render(request, "contacts/tag_form.html", {"form": form, "tag": None})


@require_role(MARKETER)
def tag_edit(request: HttpRequest, pk: int) -> HttpResponse:
    tag = get_object_or_404(Tag, pk=pk)
    form = TagForm(request.POST or None, initial={"name": tag.name, "color": tag.color})
    saved = _submitted(
        request, form, lambda data: services.tag_update(actor=request.user, tag=tag, **data)
    )
    if saved is not None:
        messages.success(request, _("Tag saved."))
        return redirect("contacts:tags")
    return render(request, "contacts/tag_form.html", {"form": form, "tag": tag})


@require_role(MARKETER)
def tag_delete(request: HttpRequest, pk: int) -> HttpResponse:
    tag = get_object_or_404(Tag, pk=pk)
    return _confirm_delete(
        request,
        tag,
        delete=lambda: services.tag_delete(actor=request.user, tag=tag),
        done=_("Tag “%(tag)s” deleted.") % {"tag": tag.name},
        done_url=reverse("contacts:tags"),
        title=_("Delete the tag “%(tag)s”?") % {"tag": tag.name},
        consequence=lambda: (
            ngettext(
                "It will be removed from %(count)s contact. The contact itself is kept.",
                "It will be removed from %(count)s contacts. The contacts themselves are kept.",
                count := tag.contacts.count(),
            )
            % {"count": count}
        ),
        cancel_url=reverse("contacts:tags"),
    )


# --- lists ---------------------------------------------------------------------------------


@require_safe
@require_role(VIEWER)
def list_list(request: HttpRequest) -> HttpResponse:
    return render(request, "contacts/lists.html", {"lists": selectors.lists_with_counts()})


@require_safe
@require_role(VIEWER)
def list_detail(request: HttpRequest, pk: int) -> HttpResponse:
    mailing_list = get_object_or_404(selectors.lists_with_counts(), pk=pk)
    return render(request, "contacts/list_detail.html", {"mailing_list": mailing_list})


@require_role(MARKETER)
def list_create(request: HttpRequest) -> HttpResponse:
    form = MailingListForm(request.POST or None)
    mailing_list = _submitted(
        request, form, lambda data: services.list_create(actor=request.user, **data)
    )
    if mailing_list is not None:
        messages.success(request, _("List “%(list)s” created.") % {"list": mailing_list.name})
        return redirect("contacts:list_detail", pk=mailing_list.pk)
    return render(request, "contacts/list_form.html", {"form": form, "mailing_list": None})


@require_role(MARKETER)
def list_edit(request: HttpRequest, pk: int) -> HttpResponse:
    mailing_list = get_object_or_404(MailingList, pk=pk)
    form = MailingListForm(
        request.POST or None,
        initial={
            "name": mailing_list.name,
            "description": mailing_list.description,
            "double_opt_in": mailing_list.double_opt_in,
            "tracking": mailing_list.tracking,
        },
    )
    saved = _submitted(
        request,
        form,
        lambda data: services.list_update(actor=request.user, mailing_list=mailing_list, **data),
    )
    if saved is not None:
        messages.success(request, _("List saved."))
        return redirect("contacts:list_detail", pk=mailing_list.pk)
    return render(request, "contacts/list_form.html", {"form": form, "mailing_list": mailing_list})


@require_role(MARKETER)
def list_delete(request: HttpRequest, pk: int) -> HttpResponse:
    mailing_list = get_object_or_404(MailingList, pk=pk)
    return _confirm_delete(
        request,
        mailing_list,
        delete=lambda: services.list_delete(actor=request.user, mailing_list=mailing_list),
        done=_("List “%(list)s” deleted.") % {"list": mailing_list.name},
        done_url=reverse("contacts:lists"),
        title=_("Delete the list “%(list)s”?") % {"list": mailing_list.name},
        consequence=lambda: (
            ngettext(
                "Its %(count)s subscription, with its consent record, will be deleted. "
                "The contact itself is kept. This cannot be undone.",
                "Its %(count)s subscriptions, with their consent records, will be deleted. "
                "The contacts themselves are kept. This cannot be undone.",
                count := mailing_list.subscriptions.count(),
            )
            % {"count": count}
        ),
        cancel_url=reverse("contacts:list_detail", args=[mailing_list.pk]),
    )
