"""Dialogue records -> a validated message list, or the reason to reject the record.

Accepted shapes (one JSON object per record):
- OpenAI chat: {"messages": [{"role": "system|user|assistant", "content": "..."}]} (content may be a list of
  {"type": "text", "text": ...} parts); "developer" counts as system.
- ShareGPT: {"conversations": [{"from": "human|gpt|system", "value": "..."}]}.
- Alternating turns without roles (KdConv): {"messages": [{"message": "..."}]}: user first, then assistant, ...
- Alpaca: {"instruction", "input", "output", optional "system" and "history": [[user, assistant], ...]}.
A valid dialogue: an optional system message first, then user/assistant strictly alternating from a user turn,
every content a non-empty string, and at least one assistant turn.
"""

from __future__ import annotations

from typing import Any, Optional, Union

from dataprep.sources import json_records

Messages = list[dict[str, str]]
Parsed = Union[Messages, str]  # the messages, or a rejection reason

ROLE_ALIASES = {
    "system": "system", "developer": "system",
    "user": "user", "human": "user",
    "assistant": "assistant", "gpt": "assistant", "bot": "assistant", "model": "assistant",
}


def text_of(content: Any) -> Optional[str]:
    """A message's text: a string, or OpenAI content parts joined; None when it is neither."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        texts = [p.get("text") for p in content]
        if all(isinstance(t, str) for t in texts):
            return "".join(texts)
    return None


def make_message(role: Any, content: Any) -> Union[dict, str]:
    if not isinstance(role, str) or role.lower() not in ROLE_ALIASES:
        return "bad_role"
    text = text_of(content)
    if text is None:
        return "wrong_type"
    if not text.strip():
        return "empty_content"
    return {"role": ROLE_ALIASES[role.lower()], "content": text}


def messages_from_list(items: Any, role_key: str, content_key: str) -> Parsed:
    if not isinstance(items, list) or not items:
        return "missing_messages"
    out = []
    for item in items:
        if not isinstance(item, dict):
            return "wrong_type"
        if role_key not in item or content_key not in item:
            return "missing_field"
        message = make_message(item[role_key], item[content_key])
        if isinstance(message, str):
            return message
        out.append(message)
    return out


def alternating(items: list) -> Parsed:
    """Role-less turns (KdConv): the first speaker is the user."""
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "message" not in item:
            return "missing_field"
        message = make_message("user" if i % 2 == 0 else "assistant", item["message"])
        if isinstance(message, str):
            return message
        out.append(message)
    return out


def alpaca(record: dict) -> Parsed:
    instruction, extra, output = record.get("instruction"), record.get("input") or "", record.get("output")
    if not isinstance(instruction, str) or not isinstance(extra, str) or not isinstance(output, str):
        return "missing_field" if instruction is None or output is None else "wrong_type"
    prompt = instruction + ("\n\n" + extra if extra.strip() else "")
    turns: list = []
    if record.get("system"):
        turns.append(("system", record["system"]))
    for pair in record.get("history") or []:
        if not isinstance(pair, list) or len(pair) != 2:
            return "wrong_type"
        turns += [("user", pair[0]), ("assistant", pair[1])]
    turns += [("user", prompt), ("assistant", output)]
    out = []
    for role, content in turns:
        message = make_message(role, content)
        if isinstance(message, str):
            return message
        out.append(message)
    return out


def parse_dialogue(record: dict) -> Parsed:
    if "messages" in record:
        items = record["messages"]
        if isinstance(items, list) and items and isinstance(items[0], dict) and "role" not in items[0] and "message" in items[0]:
            messages = alternating(items)
        else:
            messages = messages_from_list(items, "role", "content")
    elif "conversations" in record:
        messages = messages_from_list(record["conversations"], "from", "value")
    elif "instruction" in record or "output" in record:
        messages = alpaca(record)
    else:
        return "missing_messages"
    return messages if isinstance(messages, str) else check_turns(messages)


def check_turns(messages: Messages, need_assistant: bool = True) -> Parsed:
    """Optional system first, then user/assistant alternating from a user turn."""
    body = messages[1:] if messages and messages[0]["role"] == "system" else messages
    if not body:
        return "no_assistant_turn" if need_assistant else "empty_prompt"
    for i, message in enumerate(body):
        if message["role"] != ("user" if i % 2 == 0 else "assistant"):
            return "bad_turn_order"
    if need_assistant and len(body) < 2:
        return "no_assistant_turn"
    return messages


SOURCE = json_records.chat_source("dialogue", "dialogues", parse_dialogue,
                                  "chat records (OpenAI messages, ShareGPT, KdConv turns, Alpaca) in JSONL or a JSON array")
