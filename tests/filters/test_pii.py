"""PII redaction: the issue's strings, each type next to Han characters, and near-misses that must survive."""

from __future__ import annotations

from collections import Counter

import pytest
from stdnum import luhn

from dataprep.filters.batch import Batch
from dataprep.filters.pii import PiiOptions, PiiRedactor, redact
from tests.filters.conftest import texts_table


def _card(prefix: str, length: int) -> str:
    body = prefix + "7" * (length - len(prefix) - 1)
    return body + luhn.calc_check_digit(body)


VISA, UNIONPAY, MASTER_2 = _card("4", 16), _card("62", 19), _card("2221", 16)
NOT_LUHN = VISA[:-1] + str((int(VISA[-1]) + 1) % 10)
UNKNOWN_PREFIX = _card("9", 16)  # passes Luhn, issued by no one we know


@pytest.mark.parametrize("text,expected,kind", [
    ("联系zhang@example.com获取", "联系<EMAIL>获取", "EMAIL"),
    ("请发邮件至li.wei+news@mail.example.cn。", "请发邮件至<EMAIL>。", "EMAIL"),
    ("服务器地址是8.8.8.8，请勿泄露", "服务器地址是<IP>，请勿泄露", "IP"),
    ("DNS at 8.8.4.4.", "DNS at <IP>.", "IP"),
    ("IPv6地址2001:4860:4860::8888已封禁", "IPv6地址<IP>已封禁", "IP"),
    ("电话13812345678咨询", "电话<PHONE>咨询", "PHONE"),
    ("手机：+86 138 1234 5678。", "手机：<PHONE>。", "PHONE"),
    ("举报电话：010-62675637", "举报电话：<PHONE>", "PHONE"),
    ("Call +1 415 555 2671 today", "Call <PHONE> today", "PHONE"),
    ("London office +44 (20) 7946-0958.", "London office <PHONE>.", "PHONE"),
    ("身份证号11010519491231002X。", "身份证号<ID_CN>。", "ID_CN"),
    (f"卡号{VISA}已冻结", "卡号<CARD>已冻结", "CARD"),
    (f"银联卡{UNIONPAY}", "银联卡<CARD>", "CARD"),
    (f"card {MASTER_2[:4]} {MASTER_2[4:8]} {MASTER_2[8:12]} {MASTER_2[12:]} expired",
     "card <CARD> expired", "CARD"),
])
def test_redacted(text, expected, kind):
    counts = Counter()
    assert redact(text, counts=counts) == expected
    assert counts == {kind: 1}


@pytest.mark.parametrize("text", [
    "版本号1.2.3.4发布",  # a valid public IPv4, but a version
    "升级到 v10.20.30.400 后重启",  # not even an address
    "version: 8.8.8.8 of the tool",
    "内网地址192.168.1.1和127.0.0.1",  # private and loopback: not personal
    "link-local fe80::1 and ::1",
    "time 12:30:45 and std::vector<int>",
    "发布日期：2020-08-08，更新于2020.08.08，2019年12月31日",
    "订单号：202008081234567890",  # 18 digits that fail GB 11643
    "身份证号110105194912310021",  # check digit wrong (the valid one ends in X)
    f"流水号{NOT_LUHN}",
    f"编号{UNKNOWN_PREFIX}",
    "会员编号20200808123456，邮编100080",
    "价格 12,345,678 元, 1 3 8 1 2 3 4 5 6 7 8",
    "email me at name(at)example.com",
])
def test_survives(text):
    counts = Counter()
    assert redact(text, counts=counts) == text
    assert not counts


def test_mapper_counts_per_type_and_leaves_clean_rows_alone():
    texts = ["联系zhang@example.com或wang@example.org获取，电话13812345678", "没有任何个人信息的句子。",
             "Server 8.8.8.8, version 1.2.3.4", f"卡号{VISA}"]
    result = PiiRedactor().apply(Batch(texts_table(texts, "zh")))
    assert result.columns["text"].to_pylist() == [
        "联系<EMAIL>或<EMAIL>获取，电话<PHONE>", "没有任何个人信息的句子。", "Server <IP>, version 1.2.3.4", "卡号<CARD>"]
    assert result.counters == {"pii.EMAIL": 2, "pii.PHONE": 1, "pii.IP": 1, "pii.CARD": 1}
    assert result.keep.all()


def test_types_can_be_chosen():
    only_email = PiiRedactor(PiiOptions(types=["email"]))
    result = only_email.apply(Batch(texts_table(["a@b.example.com 13812345678"], "en")))
    assert result.columns["text"].to_pylist() == ["<EMAIL> 13812345678"]
    with pytest.raises(ValueError, match="unknown PII types"):
        PiiRedactor(PiiOptions(types=["ssn"]))
