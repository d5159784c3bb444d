"""Who is billed, at what tax rate, and the invoice numbers.

The customer's billing country decides the tax rate, from the table the store team keeps
(``TaxRate``: a rate per country from a start date). A business in another EU member state
than the store's, with a VAT id that passes its checksum (``python-stdnum``), is charged no
VAT: the invoice says the reverse charge applies. Invoice numbers run per year without
gaps: the counter row is locked and moved in the transaction that issues the invoice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from stdnum import get_cc_module
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as StdnumError

from portside.accounts.models import Organization, User
from portside.commerce.models import BillingProfile, InvoiceCounter, TaxRate
from portside.core import clock
from portside.core.errors import ValidationFailed

# ISO 3166-1 alpha-2.
COUNTRIES = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO
    DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU
    GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW
    KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU
    MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW
    PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF
    TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA
    ZM ZW""".split()
)
EU = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)
# VAT ids of Greece start with EL, not GR.
_VAT_PREFIX = {"GR": "EL"}


def clean_country(value: str, *, field: str = "country") -> str:
    code = str(value or "").strip().upper()
    if code not in COUNTRIES:
        raise ValidationFailed(
            "A country as its two-letter ISO 3166 code, such as DE or US.", field=field
        )
    return code


def clean_tax_id(country: str, value: str) -> str:
    """The tax id in its compact form, checked with the country's own rules where
    python-stdnum has them (every EU VAT id, and many others); empty stays empty."""
    raw = str(value or "").strip()
    if not raw:
        return ""
    if len(raw) > 40:
        raise ValidationFailed("A tax id is at most 40 characters.", field="tax_id")
    if country in EU:
        prefix = _VAT_PREFIX.get(country, country)
        candidate = eu_vat.compact(raw)
        if not candidate[:2].isalpha():
            candidate = prefix + candidate
        if candidate[:2] != prefix:
            raise ValidationFailed(f"A VAT id of {country} starts with {prefix}.", field="tax_id")
        try:
            return str(eu_vat.validate(candidate))
        except StdnumError as exc:
            raise ValidationFailed(
                f"{raw[:40]} is not a valid VAT id: {str(exc).rstrip('.')}.", field="tax_id"
            ) from None
    module: Any = get_cc_module(country.lower(), "vat")
    if module is None:
        return "".join(ch for ch in raw if ch.isalnum()).upper()
    try:
        return str(module.validate(raw))
    except StdnumError as exc:
        raise ValidationFailed(
            f"{raw[:40]} is not a valid tax id of {country}: {str(exc).rstrip('.')}.",
            field="tax_id",
        ) from None


def profile_of(*, user: User, organization: Organization | None) -> BillingProfile | None:
    if organization is not None:
        return BillingProfile.objects.filter(organization=organization).first()
    return BillingProfile.objects.filter(user=user).first()


def save_profile(
    *,
    user: User,
    organization: Organization | None,
    name: str,
    country: str,
    tax_id: str = "",
    address: str = "",
) -> BillingProfile:
    name = str(name or "").strip()
    if not name:
        raise ValidationFailed("The name to bill.", field="name")
    if len(name) > 200:
        raise ValidationFailed("At most 200 characters.", field="name")
    if len(str(address or "")) > 1000:
        raise ValidationFailed("At most 1,000 characters.", field="address")
    country = clean_country(country)
    tax_id = clean_tax_id(country, tax_id)
    holder: dict[str, Any] = (
        {"organization": organization} if organization is not None else {"user": user}
    )
    profile, _ = BillingProfile.objects.update_or_create(
        **holder,
        defaults={
            "name": name,
            "country": country,
            "tax_id": tax_id,
            "address": str(address or "").strip(),
            "updated_at": clock.now(),
        },
    )
    return profile


@dataclass(frozen=True)
class TaxDecision:
    country: str
    rate_bp: int
    reverse_charge: bool
    name: str = "VAT"

    @property
    def note(self) -> str:
        if self.reverse_charge:
            return (
                "Reverse charge: VAT to be accounted for by the recipient "
                "(Article 196, Directive 2006/112/EC)."
            )
        return ""


def rate_on(country: str, day: dt.date) -> TaxRate | None:
    return (
        TaxRate.objects.filter(country=country, starts_on__lte=day).order_by("-starts_on").first()
    )


def decide(profile: BillingProfile, day: dt.date | None = None) -> TaxDecision:
    day = day or clock.now().date()
    store_country = settings.COMMERCE_STORE_COUNTRY
    if (
        profile.country in EU
        and store_country in EU
        and profile.country != store_country
        and profile.tax_id
    ):
        return TaxDecision(profile.country, 0, True)
    rate = rate_on(profile.country, day)
    if rate is None:
        return TaxDecision(profile.country, 0, False, "Tax")
    return TaxDecision(profile.country, rate.rate_bp, False, rate.name)


def snapshot(profile: BillingProfile, decision: TaxDecision) -> dict[str, Any]:
    return {
        "name": profile.name,
        "address": profile.address,
        "country": profile.country,
        "tax_id": profile.tax_id,
        "tax_name": decision.name,
        "reverse_charge": decision.reverse_charge,
    }


def next_invoice_number(now: dt.datetime) -> tuple[int, int, str]:
    """The next number of the year, taken under the counter's row lock. Call inside the
    transaction that writes the invoice, so a rollback gives the number back."""
    year = now.year
    with transaction.atomic():
        InvoiceCounter.objects.bulk_create([InvoiceCounter(year=year)], ignore_conflicts=True)
        counter = InvoiceCounter.objects.select_for_update().get(year=year)
        counter.last += 1
        counter.save(update_fields=["last"])
    prefix = settings.COMMERCE_INVOICE_PREFIX
    return year, counter.last, f"{prefix}{year}-{counter.last:06d}"
