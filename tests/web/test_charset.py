"""HTML bytes -> text: declared charsets are believed only when the bytes agree."""

from __future__ import annotations

import codecs

from dataprep.web.charset import decode_html, meta_charset
from tests.web.warcs import EN, ZH


def test_chinese_pages_declaring_gb2312_are_read_as_the_utf8_they_are():
    raw = (ZH / "people_1.html").read_bytes()
    assert meta_charset(raw).lower() == "gb2312"
    decoded = decode_html(raw, http_charset="gb2312")
    assert decoded.charset == "utf-8"
    assert "郑板桥" in decoded.text and "\ufffd" not in decoded.text


def test_real_gbk_bytes_are_decoded_with_the_declared_charset():
    text = (ZH / "people_1.html").read_bytes().decode("utf-8")
    raw = text.encode("gb18030")
    decoded = decode_html(raw)  # the page's own <meta> says GB2312: widened to GB18030 as browsers do
    assert decoded.charset == "gb18030"
    assert decoded.text == text


def test_http_header_charset_comes_before_the_meta_tag():
    text = "<html><head><meta charset=utf-8></head><body><p>Привет, мир. Это страница в кодировке cp1251.</p></body></html>"
    decoded = decode_html(text.encode("cp1251"), http_charset="windows-1251")
    assert decoded.charset == "cp1251"
    assert decoded.text == text


def test_a_wrong_declaration_falls_back_to_detection():
    text = (ZH / "sina_sina.html").read_bytes().decode("utf-8").replace("charset=gb2312", "charset=utf-8")
    raw = text.encode("gb18030")
    decoded = decode_html(raw, http_charset="utf-8")  # both labels say UTF-8; the bytes are GB18030
    assert decoded.charset in ("gb18030", "gbk", "gb2312")
    assert "华为" in decoded.text and decoded.text.count("\ufffd") == 0


def test_byte_order_marks_win():
    text = (EN / "flowfx.de.tmux.html").read_bytes().decode("utf-8")
    decoded = decode_html(codecs.BOM_UTF16_LE + text.encode("utf-16-le"), http_charset="iso-8859-1")
    assert decoded.charset == "utf-16-le" and decoded.text == text


def test_binary_payload_is_undecodable():
    raw = (ZH.parent.parent / "warc" / "warcio_example.warc.gz").read_bytes()  # gzip bytes, not text
    decoded = decode_html(raw, http_charset="utf-8")
    assert decoded.text is None and decoded.reason == "undecodable"


def test_a_few_broken_bytes_do_not_lose_a_utf8_page():
    raw = (ZH / "qq_2.html").read_bytes()
    damaged = raw[:5000] + b"\xff" + raw[5000:]
    decoded = decode_html(damaged)
    assert decoded.charset == "utf-8"
    assert decoded.text.count("\ufffd") == 1
