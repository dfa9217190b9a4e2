"""Dialogue and preference records: the accepted shapes, and the reasons bad ones are rejected for."""

from __future__ import annotations

import gzip
import json

from dataprep.sources.dialogue import parse_dialogue
from dataprep.sources.preference import parse_preference

U = {"role": "user", "content": "hi"}
A = {"role": "assistant", "content": "hello"}


def test_openai_messages_and_content_parts():
    assert parse_dialogue({"messages": [U, A]}) == [U, A]
    parts = {"role": "assistant", "content": [{"type": "text", "text": "hel"}, {"type": "text", "text": "lo"}]}
    assert parse_dialogue({"messages": [U, parts]}) == [U, A]


def test_other_dialogue_shapes():
    sharegpt = {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}
    assert parse_dialogue(sharegpt) == [U, A]
    kdconv = {"messages": [{"message": "hi"}, {"message": "hello", "attrs": []}]}
    assert parse_dialogue(kdconv) == [U, A]
    alpaca = {"instruction": "Add", "input": "1+1", "output": "2"}
    assert parse_dialogue(alpaca) == [{"role": "user", "content": "Add\n\n1+1"}, {"role": "assistant", "content": "2"}]


def test_bad_dialogues_have_reasons():
    cases = {
        "bad_role": {"messages": [{"role": "tool", "content": "x"}, A]},
        "empty_content": {"messages": [U, {"role": "assistant", "content": "  "}]},
        "missing_field": {"messages": [{"role": "user"}, A]},
        "no_assistant_turn": {"messages": [U]},
        "bad_turn_order": {"messages": [A, U]},
        "missing_messages": {"text": "not a dialogue"},
        "wrong_type": {"messages": [U, {"role": "assistant", "content": 3}]},
    }
    for reason, record in cases.items():
        assert parse_dialogue(record) == reason, reason


def test_hh_rlhf_real_pair(data_dir):
    with gzip.open(data_dir / "tokenizer" / "hh-rlhf_harmless-base_test_head150.jsonl.gz", "rt") as handle:
        record = json.loads(handle.readline())
    prompt, chosen, rejected = parse_preference(record)
    assert [m["role"] for m in prompt] == ["user", "assistant", "user", "assistant", "user"]
    assert prompt[0]["content"] == "what are some pranks with a pen i can do?"
    assert chosen[0]["role"] == rejected[0]["role"] == "assistant" and len(chosen) == len(rejected) == 1
    assert chosen[0]["content"].startswith("No, sorry!")
    assert rejected[0]["content"].startswith("There are lots of funny things")


def test_bad_preferences_have_reasons():
    ok = "\n\nHuman: hi\n\nAssistant: "
    cases = {
        "prompt_mismatch": {"chosen": ok + "a", "rejected": "\n\nHuman: other\n\nAssistant: b"},
        "bad_transcript": {"chosen": "Human: hi Assistant: a", "rejected": ok + "b"},
        "empty_content": {"chosen": ok, "rejected": ok + "b"},
        "identical_responses": {"chosen": ok + "a", "rejected": ok + "a"},
        "missing_field": {"chosen": ok + "a"},
    }
    for reason, record in cases.items():
        assert parse_preference(record) == reason, reason
    # A transcript ending with the human speaking is no preference pair.
    assert parse_preference({"chosen": ok + "a\n\nHuman: more", "rejected": ok + "b"}) == "bad_transcript"


def test_explicit_and_sharegpt_preferences():
    explicit = {"prompt": "hi", "chosen": "good", "rejected": "bad"}
    prompt, chosen, rejected = parse_preference(explicit)
    assert prompt == [U] and chosen[0]["content"] == "good" and rejected[0]["role"] == "assistant"
    sharegpt = {"conversations": [{"from": "human", "value": "hi"}], "chosen": {"from": "gpt", "value": "good"},
                "rejected": {"from": "gpt", "value": "bad"}}
    assert parse_preference(sharegpt) == parse_preference(explicit)
    implicit = {"chosen": [U, {"role": "assistant", "content": "good"}], "rejected": [U, {"role": "assistant", "content": "bad"}]}
    assert parse_preference(implicit) == parse_preference(explicit)
