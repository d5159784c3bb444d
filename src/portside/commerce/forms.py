"""Forms of the commerce pages. They only carry what was typed: the services check it
(country codes, VAT ids, rates, amounts) and their errors are put on these fields."""

from __future__ import annotations

from typing import Any

from django import forms

from portside.accounts.models import Membership, OrgRole, User
from portside.commerce import money
from portside.commerce.billing import COUNTRIES
from portside.commerce.models import OrderStatus

# English short names of the ISO 3166-1 codes the store accepts, for the country lists.
_NAMES = """AD Andorra|AE United Arab Emirates|AF Afghanistan|AG Antigua and Barbuda|AI Anguilla|
AL Albania|AM Armenia|AO Angola|AQ Antarctica|AR Argentina|AS American Samoa|AT Austria|
AU Australia|AW Aruba|AX Åland Islands|AZ Azerbaijan|BA Bosnia and Herzegovina|BB Barbados|
BD Bangladesh|BE Belgium|BF Burkina Faso|BG Bulgaria|BH Bahrain|BI Burundi|BJ Benin|
BL Saint Barthélemy|BM Bermuda|BN Brunei|BO Bolivia|BQ Caribbean Netherlands|BR Brazil|
BS Bahamas|BT Bhutan|BV Bouvet Island|BW Botswana|BY Belarus|BZ Belize|CA Canada|
CC Cocos (Keeling) Islands|CD Congo (Democratic Republic)|CF Central African Republic|
CG Congo|CH Switzerland|CI Côte d'Ivoire|CK Cook Islands|CL Chile|CM Cameroon|CN China|
CO Colombia|CR Costa Rica|CU Cuba|CV Cabo Verde|CW Curaçao|CX Christmas Island|CY Cyprus|
CZ Czechia|DE Germany|DJ Djibouti|DK Denmark|DM Dominica|DO Dominican Republic|DZ Algeria|
EC Ecuador|EE Estonia|EG Egypt|EH Western Sahara|ER Eritrea|ES Spain|ET Ethiopia|FI Finland|
FJ Fiji|FK Falkland Islands|FM Micronesia|FO Faroe Islands|FR France|GA Gabon|
GB United Kingdom|GD Grenada|GE Georgia|GF French Guiana|GG Guernsey|GH Ghana|GI Gibraltar|
GL Greenland|GM Gambia|GN Guinea|GP Guadeloupe|GQ Equatorial Guinea|GR Greece|
GS South Georgia and the South Sandwich Islands|GT Guatemala|GU Guam|GW Guinea-Bissau|
GY Guyana|HK Hong Kong|HM Heard Island and McDonald Islands|HN Honduras|HR Croatia|HT Haiti|
HU Hungary|ID Indonesia|IE Ireland|IL Israel|IM Isle of Man|IN India|
IO British Indian Ocean Territory|IQ Iraq|IR Iran|IS Iceland|IT Italy|JE Jersey|JM Jamaica|
JO Jordan|JP Japan|KE Kenya|KG Kyrgyzstan|KH Cambodia|KI Kiribati|KM Comoros|
KN Saint Kitts and Nevis|KP North Korea|KR South Korea|KW Kuwait|KY Cayman Islands|
KZ Kazakhstan|LA Laos|LB Lebanon|LC Saint Lucia|LI Liechtenstein|LK Sri Lanka|LR Liberia|
LS Lesotho|LT Lithuania|LU Luxembourg|LV Latvia|LY Libya|MA Morocco|MC Monaco|MD Moldova|
ME Montenegro|MF Saint Martin|MG Madagascar|MH Marshall Islands|MK North Macedonia|ML Mali|
MM Myanmar|MN Mongolia|MO Macao|MP Northern Mariana Islands|MQ Martinique|MR Mauritania|
MS Montserrat|MT Malta|MU Mauritius|MV Maldives|MW Malawi|MX Mexico|MY Malaysia|
MZ Mozambique|NA Namibia|NC New Caledonia|NE Niger|NF Norfolk Island|NG Nigeria|
NI Nicaragua|NL Netherlands|NO Norway|NP Nepal|NR Nauru|NU Niue|NZ New Zealand|OM Oman|
PA Panama|PE Peru|PF French Polynesia|PG Papua New Guinea|PH Philippines|PK Pakistan|
PL Poland|PM Saint Pierre and Miquelon|PN Pitcairn|PR Puerto Rico|PS Palestine|PT Portugal|
PW Palau|PY Paraguay|QA Qatar|RE Réunion|RO Romania|RS Serbia|RU Russia|RW Rwanda|
SA Saudi Arabia|SB Solomon Islands|SC Seychelles|SD Sudan|SE Sweden|SG Singapore|
SH Saint Helena|SI Slovenia|SJ Svalbard and Jan Mayen|SK Slovakia|SL Sierra Leone|
SM San Marino|SN Senegal|SO Somalia|SR Suriname|SS South Sudan|ST São Tomé and Príncipe|
SV El Salvador|SX Sint Maarten|SY Syria|SZ Eswatini|TC Turks and Caicos Islands|TD Chad|
TF French Southern Territories|TG Togo|TH Thailand|TJ Tajikistan|TK Tokelau|TL Timor-Leste|
TM Turkmenistan|TN Tunisia|TO Tonga|TR Türkiye|TT Trinidad and Tobago|TV Tuvalu|TW Taiwan|
TZ Tanzania|UA Ukraine|UG Uganda|UM United States Minor Outlying Islands|US United States|
UY Uruguay|UZ Uzbekistan|VA Holy See|VC Saint Vincent and the Grenadines|VE Venezuela|
VG British Virgin Islands|VI United States Virgin Islands|VN Viet Nam|VU Vanuatu|
WF Wallis and Futuna|WS Samoa|YE Yemen|YT Mayotte|ZA South Africa|ZM Zambia|ZW Zimbabwe"""

COUNTRY_NAMES: dict[str, str] = {
    item.strip()[:2]: item.strip()[3:] for item in _NAMES.replace("\n", "").split("|")
}


def country_choices() -> list[tuple[str, str]]:
    """Every country the store bills, by name; codes without a name are shown as codes."""
    choices = [(code, COUNTRY_NAMES.get(code, code)) for code in COUNTRIES]
    return [("", "Choose a country"), *sorted(choices, key=lambda c: c[1])]


class HolderSelect(forms.RadioSelect):
    """Radio buttons for "take it for": organisations the user may not buy for are shown,
    but cannot be chosen."""

    def __init__(self, *args: Any, disabled: frozenset[str] = frozenset(), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.disabled = disabled

    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option: dict[str, Any] = super().create_option(*args, **kwargs)
        if option["value"] in self.disabled:
            option["attrs"]["disabled"] = True
        return option


def holder_field(user: User) -> forms.ChoiceField:
    """Me, or one of my organisations (owners only: the service checks it again)."""
    memberships = Membership.objects.filter(user=user).select_related("organization")
    choices = [("", f"Me ({user.username})")]
    disabled = set()
    for m in memberships:
        owner = m.role == OrgRole.OWNER
        label = f"Organisation {m.organization.title}" + ("" if owner else " (owners only)")
        choices.append((m.organization.name, label))
        if not owner:
            disabled.add(m.organization.name)
    return forms.ChoiceField(
        choices=choices,
        required=False,
        label="Take it for",
        widget=HolderSelect(disabled=frozenset(disabled)),
    )


class HolderForm(forms.Form):
    """Whom a free tier is for, and the licence; ``accept_licence`` is checked by the
    service, so its message is the service's."""

    accept_licence = forms.BooleanField(
        required=False, label="I accept the licence agreement of this product"
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["holder"] = holder_field(user)
        self.order_fields(["holder", "accept_licence"])

    @property
    def has_choice(self) -> bool:
        """Whether there is anything to choose (the user belongs to an organisation)."""
        return len(self.fields["holder"].choices) > 1  # type: ignore[attr-defined]


class ConfirmForm(forms.Form):
    """The checkout's confirmation: the licence, and what the page showed (``signature``)
    under a key that makes a repeated POST place one order."""

    accept_licence = forms.BooleanField(
        required=False, label="I accept the licence agreement of this product"
    )
    signature = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)
    idempotency_key = forms.CharField(widget=forms.HiddenInput, required=False, max_length=255)


class BillingForm(forms.Form):
    name = forms.CharField(
        max_length=250, label="Name to bill", help_text="A person's or a company's name."
    )
    address = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=1200
    )
    country = forms.ChoiceField(choices=(), required=False)
    tax_id = forms.CharField(
        max_length=60,
        required=False,
        label="VAT or tax id",
        help_text="Businesses in another EU country than the store's with a valid VAT id are "
        "charged no VAT (reverse charge).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["country"].choices = country_choices()  # type: ignore[attr-defined]


class RefundForm(forms.Form):
    amount = forms.CharField(required=False, max_length=30)
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=500,
        required=False,
        help_text="The customer reads it in the refund mail and on the invoice.",
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput, required=False, max_length=255)

    def __init__(self, *args: Any, currency: str, left: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.fields["amount"].label = f"Amount ({currency})"
        self.fields["amount"].help_text = f"Leave empty to refund all that is left: {left}."

    def amount_minor(self) -> int | None:
        """The amount in minor units, or None for all that is left (``MoneyError`` for
        an amount the currency cannot have)."""
        raw = str(self.cleaned_data.get("amount") or "").strip()
        return money.to_minor(raw, self.currency) if raw else None


class MarkPaidForm(forms.Form):
    reference = forms.CharField(
        max_length=100,
        required=False,
        label="Payment reference",
        help_text="The bank transfer's reference, for the record.",
    )


class TaxRateForm(forms.Form):
    country = forms.ChoiceField(choices=(), required=False)
    rate = forms.CharField(max_length=10, label="Rate (%)", help_text="For example 19 or 7.5.")
    starts_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label="Starts on")
    name = forms.CharField(
        max_length=60, initial="VAT", required=False, help_text="Printed on invoices."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["country"].choices = country_choices()  # type: ignore[attr-defined]


class ShareForm(forms.Form):
    publisher = forms.CharField(max_length=39, label="Publisher (organisation name)")
    share = forms.CharField(
        max_length=10,
        required=False,
        label="Store's share (%)",
        help_text="Leave empty to go back to the store's default.",
    )


class PayoutForm(forms.Form):
    publisher = forms.CharField(max_length=39, label="Publisher (organisation name)")
    currency = forms.ChoiceField(choices=[(c, c) for c in sorted(money.EXPONENTS)])
    amount = forms.CharField(max_length=30, help_text="At most what the store owes.")
    memo = forms.CharField(
        max_length=200, required=False, help_text="The transfer's reference, for the ledger."
    )


ORDER_STATUSES = [("", "Any status"), *OrderStatus.choices]
