"""PII redaction (a mapper): e-mail addresses, public IP addresses, phone numbers, Chinese resident ID numbers and
bank-card numbers become typed placeholders, counted per type in the stats (`pii.EMAIL`, ...).

- Boundaries are explicit character classes, never `\\b` (which sees no boundary between `zhang` and a Han character
  before it): `联系zhang@example.com获取` is caught. Digit runs are bounded by `(?<!\\d)`/`(?!\\d)`.
- IP addresses: IPv4 and IPv6 that Python's `ipaddress` calls global (private, loopback, documentation and other
  reserved ranges are not personal), IPv6 only in global unicast 2000::/3. `1.2.3.4` is a valid public IPv4, so a dotted number right after 版本/version/ver/v
  is a version, not an address (`版本号1.2.3.4发布`, `v10.20.30.40`).
- Phones: Chinese mobiles (`1[3-9]` + 9 digits, optional +86, optional spaces/hyphens 3-4-4), Chinese landlines with an
  area code and a hyphen (`021-54098575`), and international numbers in E.164 form with a leading `+` (8-15 digits,
  spaces/hyphens/dots/parentheses between groups). Other national formats without `+` are not recognised.
- Resident IDs: 18 characters that pass GB 11643 (python-stdnum `cn.ric`: check digit, birth date, region).
- Cards: 16-19 digits (optionally grouped by spaces/hyphens) that pass Luhn and start with a known issuer prefix
  (Visa 4, Mastercard 51-55 and 2221-2720, UnionPay 62, Discover 6011 and 65).
Dates (2020-08-08, 2020.08.08) and order numbers without a checksum are left alone.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from typing import Callable, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from stdnum import luhn
from stdnum.cn import ric

from dataprep.filters.base import Mapper, Options

PLACEHOLDERS = {"email": "<EMAIL>", "id_cn": "<ID_CN>", "card": "<CARD>", "phone": "<PHONE>", "ip": "<IP>"}

_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,24}"
                    r"(?![A-Za-z0-9\-])")
_ID_CN = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_CARD = re.compile(r"(?<![\d\-])\d(?:[ \-]?\d){15,18}(?![\d\-])")
_PHONE = re.compile(
    r"(?<![\d+])(?:\+86[ \-]?)?1[3-9]\d(?:[ \-]?\d{4}){2}(?!\d)"  # Chinese mobile
    r"|(?<![\d\-])0\d{2,3}-\d{7,8}(?![\d\-])"  # Chinese landline with its area code
    r"|(?<![\w+])\+[1-9](?:[ \-.]?\(?\d+\)?){2,7}(?!\d)"  # E.164 with +
)
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)")
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])")
_VERSION_BEFORE = re.compile(r"(?:版本号?|(?<![A-Za-z])(?:version|ver\.?|v))\s*[:：]?\s*$", re.IGNORECASE)
# Per rule, an RE2 pattern every match of the rule contains: one vectorized pass per rule over the batch picks the
# documents (and the rules) that the Python patterns then scan.
_PREFILTERS = {
    "email": r"@",
    "id_cn": r"\d{17}[\dXx]",
    "card": r"\d(?:[ \-]?\d){15}",
    "phone": r"1[3-9]\d[ \-]?\d{4}[ \-]?\d{4}|\+\d|0\d{2,3}-\d{7}",
    "ip": r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:",
}
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_CARD_PREFIXES = ("4", "51", "52", "53", "54", "55", "62", "6011", "65")


class PiiOptions(Options):
    types: list[str] = list(PLACEHOLDERS)  # which kinds to redact: email, id_cn, card, phone, ip


class PiiRedactor(Mapper):
    name = "pii"
    Options = PiiOptions
    per_language = False

    def __init__(self, options=None, thresholds=None):
        super().__init__(options, thresholds)
        unknown = set(self.options.types) - set(PLACEHOLDERS)
        if unknown:
            raise ValueError(f"unknown PII types {sorted(unknown)}; known: {', '.join(PLACEHOLDERS)}")
        self.rules = [(kind, pattern, check) for kind, pattern, check in _RULES if kind in self.options.types]

    def map(self, batch) -> tuple[dict[str, pa.Array], Counter]:
        kinds = sorted({kind for kind, _, _ in self.rules})
        hits = {kind: pc.match_substring_regex(batch.texts, _PREFILTERS[kind]).to_numpy(zero_copy_only=False)
                for kind in kinds}
        texts = batch.text_list
        counts: Counter = Counter()
        changed = list(texts)
        for i in np.flatnonzero(np.any([hits[k] for k in kinds], axis=0)):
            rules = [rule for rule in self.rules if hits[rule[0]][i]]
            changed[i] = redact(texts[i], rules, counts)
        if not counts:
            return {}, counts
        return {"text": pa.array(changed, batch.texts.type)}, Counter({f"pii.{k}": v for k, v in counts.items()})


def redact(text: str, rules=None, counts: Optional[Counter] = None) -> str:
    """Replace every recognised item by its placeholder; `counts` gets one per replacement, by type."""
    counts = counts if counts is not None else Counter()
    for kind, pattern, check in rules if rules is not None else _RULES:
        def replace(match: re.Match, kind=kind, check=check) -> str:
            if check(match):
                counts[kind.upper()] += 1
                return PLACEHOLDERS[kind]
            return match.group(0)

        text = pattern.sub(replace, text)
    return text


def _always(match: re.Match) -> bool:
    return True


def _resident_id(match: re.Match) -> bool:
    return ric.is_valid(match.group(0))


def _card(match: re.Match) -> bool:
    digits = re.sub(r"[ \-]", "", match.group(0))
    if not 16 <= len(digits) <= 19 or not luhn.is_valid(digits):
        return False
    return digits.startswith(_CARD_PREFIXES) or 2221 <= int(digits[:4]) <= 2720


def _phone(match: re.Match) -> bool:
    found = match.group(0)
    if not found.startswith("+") or found.startswith("+86"):
        return True
    return 8 <= sum(c.isdigit() for c in found) <= 15


def _ip(match: re.Match) -> bool:
    if _VERSION_BEFORE.search(match.string, max(0, match.start() - 12), match.start()):
        return False
    try:
        address = ipaddress.ip_address(match.group(0))
    except ValueError:
        return False
    # IPv6: global unicast (2000::/3) only; `std::` or `a::` parse as addresses Python calls global.
    return address.is_global and (address.version == 4 or address in _GLOBAL_UNICAST)


_RULES: list[tuple[str, re.Pattern, Callable[[re.Match], bool]]] = [
    ("email", _EMAIL, _always),
    ("id_cn", _ID_CN, _resident_id),
    ("card", _CARD, _card),
    ("phone", _PHONE, _phone),
    ("ip", _IPV4, _ip),
    ("ip", _IPV6, _ip),
]
