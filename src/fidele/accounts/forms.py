from __future__ import annotations

from django import forms
from django.contrib.auth.password_validation import password_validators_help_text_html
from django.utils.translation import gettext_lazy as _

from fidele.accounts.models import User

ROLE_HELP = _(
    "Owner: everything, including users and the audit log. Marketer: works on contacts, "
    "imports, exports and campaigns. Viewer: reads only."
)


class _PasswordPair(forms.Form):
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label=_("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_password2(self) -> str:
        first, second = self.cleaned_data.get("password1"), self.cleaned_data.get("password2")
        if first and second and first != second:
            raise forms.ValidationError(_("The two passwords differ."), code="mismatch")
        return second


class UserCreateForm(_PasswordPair):
    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        validators=[User.username_validator],
        help_text=_("Used to log in. Letters, digits and @ . + - _ only."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "none"}),
    )
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    email = forms.EmailField(label=_("Email"), required=False)
    # Least privilege by default: giving more is a deliberate choice.
    role = forms.ChoiceField(
        label=_("Role"), choices=User.Role.choices, initial=User.Role.VIEWER, help_text=ROLE_HELP
    )

    field_order = ["username", "first_name", "last_name", "email", "role", "password1", "password2"]

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(_("This username is already taken."), code="taken")
        return username


class UserEditForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    email = forms.EmailField(label=_("Email"), required=False)
    role = forms.ChoiceField(label=_("Role"), choices=User.Role.choices, help_text=ROLE_HELP)


class PasswordSetForm(_PasswordPair):
    pass
