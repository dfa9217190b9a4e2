"""Preference records -> (prompt, chosen, rejected) message lists, or the reason to reject the record.

Accepted shapes:
- hh-rlhf: {"chosen": "\n\nHuman: ...\n\nAssistant: ...", "rejected": "..."}: two whole transcripts that must
  parse into alternating Human/Assistant turns ending with an Assistant turn and share every turn but the last.
- Explicit prompt (trl): {"prompt": str | messages, "chosen": str | messages, "rejected": str | messages}.
- LLaMA-Factory / ShareGPT: {"conversations": [{"from", "value"}], "chosen": {"from", "value"}, "rejected": {...}}.
The prompt must end with a user turn; each response is one or more non-empty turns starting with the assistant.
"""

from __future__ import annotations

import re
from typing import Any, Union

from dataprep.sources import json_records

from dataprep.sources.dialogue import Messages, check_turns, make_message, messages_from_list

Parsed = Union[tuple[Messages, Messages, Messages], str]
_TURN = re.compile(r"\n\n(Human|Assistant):[ \t]?")


def parse_transcript(text: Any) -> Union[Messages, str]:
    """hh-rlhf's "\n\nHuman: ...\n\nAssistant: ..." text as messages."""
    if not isinstance(text, str):
        return "wrong_type"
    parts = _TURN.split(text)
    if parts[0].strip():
        return "bad_transcript"  # text before the first Human turn
    messages = []
    for speaker, content in zip(parts[1::2], parts[2::2]):
        message = make_message("user" if speaker == "Human" else "assistant", content.strip())
        if isinstance(message, str):
            return message
        messages.append(message)
    if not messages:
        return "bad_transcript"
    checked = check_turns(messages)
    if isinstance(checked, str):
        return "bad_transcript" if checked == "bad_turn_order" else checked
    if messages[-1]["role"] != "assistant":
        return "bad_transcript"
    return messages


def as_messages(value: Any, default_role: str) -> Union[Messages, str]:
    """A plain string is one message of `default_role`; a dict is one ShareGPT/OpenAI message; a list is messages."""
    if isinstance(value, str):
        message = make_message(default_role, value)
        return message if isinstance(message, str) else [message]
    if isinstance(value, dict):
        value = [value]
    if isinstance(value, list) and value and isinstance(value[0], dict):
        keys = ("role", "content") if "role" in value[0] else ("from", "value")
        return messages_from_list(value, *keys)
    return "wrong_type" if value is not None else "missing_field"


def parse_preference(record: dict) -> Parsed:
    if "chosen" not in record or "rejected" not in record:
        return "missing_field"
    if "prompt" not in record and "conversations" not in record:
        if isinstance(record["chosen"], str) and isinstance(record["rejected"], str):
            return from_transcripts(record["chosen"], record["rejected"])
        return implicit_prompt(record)
    prompt = as_messages(record.get("prompt", record.get("conversations")), "user")
    chosen = as_messages(record["chosen"], "assistant")
    rejected = as_messages(record["rejected"], "assistant")
    return assemble(prompt, chosen, rejected)


def from_transcripts(chosen_text: str, rejected_text: str) -> Parsed:
    chosen = parse_transcript(chosen_text)
    rejected = parse_transcript(rejected_text)
    for side in (chosen, rejected):
        if isinstance(side, str):
            return side
    if chosen[:-1] != rejected[:-1]:
        return "prompt_mismatch"
    return assemble(chosen[:-1], chosen[-1:], rejected[-1:])


def implicit_prompt(record: dict) -> Parsed:
    """trl's implicit-prompt form: chosen and rejected are whole conversations sharing a prefix."""
    chosen = as_messages(record["chosen"], "assistant")
    rejected = as_messages(record["rejected"], "assistant")
    for side in (chosen, rejected):
        if isinstance(side, str):
            return side
    shared = 0
    while shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]:
        shared += 1
    while shared and chosen[shared - 1]["role"] == "assistant":
        shared -= 1  # the responses start at the first assistant turn after the last shared user turn
    return assemble(chosen[:shared], chosen[shared:], rejected[shared:])


def assemble(prompt, chosen, rejected) -> Parsed:
    for side in (prompt, chosen, rejected):
        if isinstance(side, str):
            return side
    checked = check_turns(prompt, need_assistant=False)
    if isinstance(checked, str):
        return checked
    if prompt[-1]["role"] != "user":
        return "bad_turn_order"
    for response in (chosen, rejected):
        if not response:
            return "empty_response"
        # A response continues the conversation: assistant first, then alternating.
        for i, message in enumerate(response):
            if message["role"] != ("assistant" if i % 2 == 0 else "user"):
                return "bad_turn_order"
    if chosen == rejected:
        return "identical_responses"
    return prompt, chosen, rejected


SOURCE = json_records.chat_source("preference", "preferences", parse_preference,
                                  "preference pairs (hh-rlhf transcripts, trl prompt/chosen/rejected, LLaMA-Factory) in JSONL or JSON")
