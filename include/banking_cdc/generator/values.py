"""Realistic, seeded values: money amounts, the simulated clock, customer profiles, IBANs, descriptions.

Money is :class:`decimal.Decimal` with exactly two decimal places. Amounts are drawn as whole cents with
integer arithmetic only (no float ever holds money) and turned into ``Decimal`` by :func:`cents_to_money`.
"""

from __future__ import annotations

import random
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Final

from faker import Faker

ZERO: Final = Decimal("0.00")

#: amounts that exercise exactness: smallest units, classic binary-float traps, the largest single deposit
EDGE_AMOUNTS: Final[tuple[Decimal, ...]] = tuple(
    Decimal(text) for text in ("0.01", "0.10", "0.20", "0.30", "0.99", "1.00", "100.00", "9999999.99")
)
#: share of drawn amounts that are edge amounts
EDGE_SHARE: Final = 0.03

#: (lower cents, upper cents exclusive, weight) buckets: log-uniform-ish amounts per kind of money movement
_AMOUNT_BUCKETS: Final[dict[str, tuple[tuple[int, int, int], ...]]] = {
    "deposit": ((1_000, 10_000, 20), (10_000, 100_000, 42), (100_000, 1_000_000, 33), (1_000_000, 10_000_000, 5)),
    "withdrawal": ((100, 1_000, 20), (1_000, 10_000, 45), (10_000, 100_000, 30), (100_000, 1_000_000, 5)),
    "transfer": ((100, 1_000, 15), (1_000, 10_000, 40), (10_000, 100_000, 35), (100_000, 2_000_000, 10)),
}


def cents_to_money(cents: int) -> Decimal:
    """Return ``cents`` as an exact two-place Decimal (``1234`` -> ``Decimal('12.34')``)."""
    return Decimal(cents).scaleb(-2)


def money_to_cents(amount: Decimal) -> int:
    """Return a two-place Decimal as whole cents; raise if it has a fraction of a cent."""
    cents = amount.scaleb(2)
    if cents != cents.to_integral_value():
        raise ValueError(f"{amount} is not a whole number of cents")
    return int(cents)


class AmountSampler:
    """
    Draw money amounts for deposits, withdrawals and transfers, with occasional edge amounts.

    :param rng: The generator's seeded random source.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._buckets = {
            kind: ([(low, high) for low, high, _ in buckets], [weight for _, _, weight in buckets])
            for kind, buckets in _AMOUNT_BUCKETS.items()
        }

    def draw(self, kind: str, cap: Decimal | None = None) -> Decimal:
        """
        Return an amount of ``kind`` (``deposit``, ``withdrawal`` or ``transfer``), at most ``cap`` when given.

        :param kind: Which distribution to draw from.
        :param cap: The available balance for debits; must be at least 0.01.
        """
        rng = self._rng
        if rng.random() < EDGE_SHARE:
            amount = EDGE_AMOUNTS[rng.randrange(len(EDGE_AMOUNTS))]
        else:
            ranges, weights = self._buckets[kind]
            low, high = rng.choices(ranges, weights)[0]
            amount = cents_to_money(rng.randrange(low, high))
        if cap is not None and amount > cap:
            # more than the balance: take everything (an account drained to exactly zero) or a part of it
            amount = cap if rng.random() < 0.3 else cents_to_money(rng.randint(1, money_to_cents(cap)))
        return amount


class SimulatedClock:
    """
    The business clock: starts at a given instant and advances by seeded random steps, never by wall time.

    :param start: The first instant (timezone-aware).
    """

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.now = start

    def advance(self, rng: random.Random, mean_seconds: float) -> datetime:
        """Move forward by a random step averaging ``mean_seconds`` (at least one microsecond); return the new now."""
        self.now += timedelta(microseconds=rng.randint(1, max(1, int(2_000_000 * mean_seconds))))
        return self.now


def random_uuid(rng: random.Random) -> uuid.UUID:
    """Return a version-4 UUID drawn from ``rng`` (seeded, unlike :func:`uuid.uuid4`)."""
    return uuid.UUID(int=rng.getrandbits(128), version=4)


#: the bank's own IBAN country and bank code; the account number is the account id, so IBANs are unique
IBAN_COUNTRY: Final = "DE"
IBAN_BANK_CODE: Final = "50070010"


def iban_for(account_id: int) -> str:
    """Return the account's IBAN: German layout, bank code + 10-digit account number, valid mod-97 checksum."""
    bban = f"{IBAN_BANK_CODE}{account_id:010d}"
    # letters to numbers (D=13, E=14), country + "00" moved to the end
    numeric = bban + "".join(str(ord(char) - 55) for char in IBAN_COUNTRY) + "00"
    check = 98 - int(numeric) % 97
    return f"{IBAN_COUNTRY}{check:02d}{bban}"


@dataclass(frozen=True)
class Locale:
    """A market of the bank: Faker locale, ISO country, phone prefix, share of customers, e-mail domains."""

    faker_locale: str
    country_code: str
    phone_prefix: str
    weight: int
    email_domains: tuple[str, ...]


LOCALES: Final[tuple[Locale, ...]] = (
    Locale("de_DE", "DE", "+49", 40, ("web.de", "gmx.de", "t-online.de", "gmail.com", "posteo.de")),
    Locale("fr_FR", "FR", "+33", 20, ("orange.fr", "free.fr", "laposte.net", "gmail.com")),
    Locale("nl_NL", "NL", "+31", 15, ("ziggo.nl", "kpnmail.nl", "gmail.com", "outlook.com")),
    Locale("es_ES", "ES", "+34", 10, ("telefonica.es", "gmail.com", "hotmail.es")),
    Locale("it_IT", "IT", "+39", 10, ("libero.it", "virgilio.it", "gmail.com")),
    Locale("en_IE", "IE", "+353", 5, ("eircom.net", "gmail.com", "outlook.com")),
)
_LOCALE_BY_COUNTRY: Final = {locale.country_code: index for index, locale in enumerate(LOCALES)}

#: tier at sign-up; tier changes then move one step up or down
SIGNUP_TIERS: Final = (("standard", 92), ("silver", 6), ("gold", 2))
TIERS: Final = ("standard", "silver", "gold", "private")


def _canonicalise(fake: Faker) -> None:
    """
    Sort the word lists of ``fake``'s providers, on this instance only.

    Some Faker providers build word lists from sets (e.g. ``it_IT`` cities), whose order depends on the
    per-process string hash seed: the same Faker seed would then give other values in another process.
    Sorted lists make a seed reproducible everywhere (a uniform choice is as uniform from a sorted list).
    """
    for provider in fake.get_providers():
        seen: set[str] = set()
        for klass in type(provider).__mro__:
            for name, value in vars(klass).items():
                if name in seen or name.startswith("__"):
                    continue
                seen.add(name)
                if isinstance(value, set | frozenset) or (
                    isinstance(value, list) and value and all(isinstance(item, str) for item in value)
                ):
                    setattr(provider, name, sorted(value))


def _clean(text: str) -> str:
    """Make a Faker string safe for COPY's text format and single-line: no tabs, newlines or backslashes."""
    return " ".join(text.replace("\\", "/").split())


def _ascii_word(text: str) -> str:
    """Return ``text`` as lower-case ASCII letters and digits (``Müller-Lüdenscheidt`` -> ``mullerludenscheidt``)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return "".join(char for char in folded if char.isalnum()) or "customer"


@dataclass
class _Pools:
    """Pre-drawn Faker values of one locale; combined at random, they give endless distinct profiles quickly."""

    first_names: list[str]
    last_names: list[str]
    street_addresses: list[str]
    cities: list[str]
    postcodes: list[str]


@dataclass(frozen=True)
class Address:
    """A postal address."""

    address_line: str
    city: str
    postal_code: str


@dataclass(frozen=True)
class Profile:
    """A new customer's personal data (PII: never logged)."""

    customer_ref: uuid.UUID
    first_name: str
    last_name: str
    email: str
    phone: str
    date_of_birth: date
    address: Address
    country_code: str
    tier: str


class ProfileFactory:
    """
    Seeded customer profiles, addresses, e-mails, phone numbers and merchant names in the bank's markets.

    Faker (one instance per locale, seeded from ``seed``) fills pools once; every later choice uses ``rng``, so a
    profile costs a few microseconds and never depends on today's date.

    :param seed: Seed material of the Faker instances.
    :param rng: The generator's seeded random source.
    :param pool_size: Values drawn per locale and field.
    """

    def __init__(self, seed: str, rng: random.Random, pool_size: int = 256) -> None:
        self._rng = rng
        self._pools: list[_Pools] = []
        merchants: list[str] = []
        for locale in LOCALES:
            fake = Faker(locale.faker_locale)
            _canonicalise(fake)
            fake.seed_instance(f"{seed}:{locale.faker_locale}")
            self._pools.append(
                _Pools(
                    first_names=[_clean(fake.first_name()) for _ in range(pool_size)],
                    last_names=[_clean(fake.last_name()) for _ in range(pool_size)],
                    street_addresses=[_clean(fake.street_address()) for _ in range(pool_size)],
                    cities=[_clean(fake.city()) for _ in range(pool_size)],
                    postcodes=[_clean(fake.postcode()) for _ in range(pool_size)],
                )
            )
            merchants.extend(_clean(fake.company()) for _ in range(max(8, pool_size // 8)))
        self.merchants: list[str] = merchants
        self._locale_weights = [locale.weight for locale in LOCALES]
        self._tiers = [tier for tier, _ in SIGNUP_TIERS]
        self._tier_weights = [weight for _, weight in SIGNUP_TIERS]

    def locale_index(self, country_code: str) -> int:
        """Return the index of the market of ``country_code`` (the first market when unknown)."""
        return _LOCALE_BY_COUNTRY.get(country_code, 0)

    def new_profile(self, today: date) -> Profile:
        """Return a new customer aged 18 to 85 at ``today`` (the simulated date)."""
        rng = self._rng
        index = rng.choices(range(len(LOCALES)), self._locale_weights)[0]
        pools = self._pools[index]
        first = pools.first_names[rng.randrange(len(pools.first_names))]
        last = pools.last_names[rng.randrange(len(pools.last_names))]
        return Profile(
            customer_ref=random_uuid(rng),
            first_name=first,
            last_name=last,
            email=self.email(index, first, last),
            phone=self.phone(index),
            date_of_birth=today - timedelta(days=rng.randint(18 * 365 + 5, 85 * 365)),
            address=self.address(index),
            country_code=LOCALES[index].country_code,
            tier=rng.choices(self._tiers, self._tier_weights)[0],
        )

    def email(self, locale_index: int, first_name: str, last_name: str) -> str:
        """Return a plausible e-mail address for the name, at a common provider of the market."""
        rng = self._rng
        first, last = _ascii_word(first_name), _ascii_word(last_name)
        style = rng.randrange(4)
        if style == 0:
            local = f"{first}.{last}"
        elif style == 1:
            local = f"{first[0]}{last}{rng.randint(1, 99)}"
        elif style == 2:
            local = f"{first}{last[0]}{rng.randint(1950, 2008)}"
        else:
            local = f"{last}.{first}{rng.randint(1, 999)}"
        domains = LOCALES[locale_index].email_domains
        return f"{local}@{domains[rng.randrange(len(domains))]}"

    def phone(self, locale_index: int) -> str:
        """Return a mobile number of the market in international format."""
        rng = self._rng
        return f"{LOCALES[locale_index].phone_prefix} {rng.randint(150, 799)} {rng.randint(1_000_000, 9_999_999)}"

    def address(self, locale_index: int) -> Address:
        """Return an address in the market."""
        rng = self._rng
        pools = self._pools[locale_index]
        return Address(
            address_line=pools.street_addresses[rng.randrange(len(pools.street_addresses))],
            city=pools.cities[rng.randrange(len(pools.cities))],
            postal_code=pools.postcodes[rng.randrange(len(pools.postcodes))],
        )

    def merchant(self) -> str:
        """Return a merchant or employer name."""
        return self.merchants[self._rng.randrange(len(self.merchants))]


_DEPOSIT_TEXTS: Final = ("Salary {m}", "Cash deposit", "Refund {m}", "Incoming payment {m}", "Interest")
_WITHDRAWAL_TEXTS: Final = ("ATM withdrawal", "Card payment {m}", "Direct debit {m}", "Card payment {m}")
_TRANSFER_TEXTS: Final = ("Rent", "Savings", "Invoice", "Shared expenses", "Gift", "Loan repayment")


class Descriptions:
    """
    Booking texts of transactions (merchant names, never customer data).

    :param profiles: Source of merchant names.
    :param rng: The generator's seeded random source.
    """

    def __init__(self, profiles: ProfileFactory, rng: random.Random) -> None:
        self._profiles = profiles
        self._rng = rng

    def _pick(self, texts: tuple[str, ...]) -> str:
        text = texts[self._rng.randrange(len(texts))]
        return text.format(m=self._profiles.merchant()) if "{m}" in text else text

    def deposit(self) -> str:
        """A deposit's booking text."""
        return self._pick(_DEPOSIT_TEXTS)

    def withdrawal(self) -> str:
        """A withdrawal's booking text."""
        return self._pick(_WITHDRAWAL_TEXTS)

    def transfer(self) -> str:
        """A transfer's booking text."""
        return self._pick(_TRANSFER_TEXTS)
