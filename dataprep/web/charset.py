"""HTML bytes -> text: HTTP header charset, byte-order mark, `<meta>`, then detection; the bytes have the last word.

Real pages lie about their encoding (many Chinese pages declare GB2312 and are UTF-8, saved from a browser's
DOM), so a declared charset is only believed when the bytes agree with it: bytes that are valid UTF-8 (and not
plain ASCII) are UTF-8 whatever the page says, because legacy multi-byte text almost never happens to form valid
UTF-8 sequences. A declared charset that fails to decode falls through to charset-normalizer's detection.
"""

from __future__ import annotations

import codecs
import re
from typing import NamedTuple, Optional

# Labels that browsers decode with a superset codec (WHATWG Encoding Standard), in Python codec names.
_SUPERSETS = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030", "euc-cn": "gb18030",
    "iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "us-ascii": "cp1252", "ascii": "cp1252",
    "iso-8859-9": "cp1254", "tis-620": "cp874", "iso-8859-11": "cp874",
    "big5": "big5hkscs", "shift_jis": "cp932", "sjis": "cp932", "x-sjis": "cp932", "ms_kanji": "cp932",
    "euc-kr": "cp949", "ks_c_5601-1987": "cp949", "utf8": "utf-8", "unicode": "utf-16",
}
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_META_CHARSET = re.compile(rb"""<meta[^>]{0,512}?charset\s*=\s*["']?\s*([A-Za-z0-9_:.+-]{1,40})""", re.IGNORECASE)
META_SCAN_BYTES = 8192  # the spec says 1024; real pages put a <meta> after long <script>s, so look further
SNIFF_BYTES = 4096
LENIENT_ERROR_SHARE = 0.01  # a few broken sequences in an otherwise consistent page are decoded with U+FFFD
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27))


class Decoded(NamedTuple):
    text: Optional[str]
    charset: Optional[str]  # Python codec name actually used
    reason: Optional[str] = None  # why there is no text ("undecodable")


def codec_name(label: Optional[str]) -> Optional[str]:
    """The Python codec for a charset label (aliases widened to what browsers use), or None if unknown."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _SUPERSETS.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def meta_charset(raw: bytes) -> Optional[str]:
    """The charset named by `<meta charset>` or `<meta http-equiv content="...; charset=...">`."""
    found = _META_CHARSET.search(raw[:META_SCAN_BYTES])
    return found.group(1).decode("ascii") if found else None


def looks_binary(raw: bytes) -> bool:
    """NUL bytes or many control bytes: an image, archive or other binary payload, whatever its label says."""
    head = raw[:SNIFF_BYTES]
    if b"\x00" in head:
        return True
    controls = sum(head.count(bytes([b])) for b in _CONTROL_BYTES)
    return controls > 0.05 * max(1, len(head))


def decode_html(raw: bytes, http_charset: Optional[str] = None) -> Decoded:
    """Decode an HTML payload; `http_charset` is the charset parameter of the HTTP Content-Type, if any."""
    for bom, name in _BOMS:
        if raw.startswith(bom):
            try:
                return Decoded(raw[len(bom):].decode(name), name)
            except UnicodeDecodeError:
                break
    if looks_binary(raw):
        return Decoded(None, None, "undecodable")
    declared = [c for c in (codec_name(http_charset), codec_name(meta_charset(raw))) if c]
    if raw.isascii():
        return Decoded(raw.decode("ascii"), "ascii")
    try:
        return Decoded(raw.decode("utf-8"), "utf-8")  # valid UTF-8 wins over any label
    except UnicodeDecodeError:
        pass
    for name in dict.fromkeys(declared):
        if name == "utf-8":
            continue  # already failed strictly
        try:
            return Decoded(raw.decode(name), name)
        except (UnicodeDecodeError, LookupError):
            continue
    for name in dict.fromkeys(declared + ["utf-8"]):
        text = _lenient(raw, name)
        if text is not None:
            return Decoded(text, name)
    detected = _detect(raw)
    if detected is not None:
        return detected
    return Decoded(None, None, "undecodable")


def _lenient(raw: bytes, name: str) -> Optional[str]:
    """Decode with U+FFFD for broken sequences when they are rare among the non-ASCII bytes."""
    try:
        text = raw.decode(name, errors="replace")
    except LookupError:
        return None
    if text.count("\ufffd") <= LENIENT_ERROR_SHARE * _non_ascii(raw):
        return text
    return None


def _non_ascii(raw: bytes) -> int:
    return len(raw) - len(raw.translate(None, bytes(range(128, 256))))


def _detect(raw: bytes) -> Optional[Decoded]:
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    if best is None or best.encoding is None:
        return None
    name = codec_name(best.encoding) or best.encoding
    try:
        return Decoded(raw.decode(name), name)
    except (UnicodeDecodeError, LookupError):
        return None
