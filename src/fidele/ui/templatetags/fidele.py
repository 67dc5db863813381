from django import template

from fidele.ui import formatting

register = template.Library()


@register.filter
def money(value, currency=None):
    return formatting.format_money(value, currency)


@register.filter
def number(value, digits=None):
    return formatting.format_number(value, None if digits is None else int(digits))


@register.filter
def language_name(code):
    """ "nl" -> "Néerlandais" in the reader's language (the code itself when unknown)."""
    return formatting.format_language(code)


@register.filter
def rate(value):
    return formatting.format_rate(value)


@register.filter
def phone(value):
    return formatting.format_phone(value)


@register.filter
def humanize_key(value):
    """`vin_prefere` -> `Vin prefere`: custom attribute keys read as labels."""
    text = str(value).replace("_", " ").strip()
    return text[:1].upper() + text[1:]
