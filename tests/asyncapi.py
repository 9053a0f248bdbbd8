"""Checks published messages against the contract in docs/asyncapi.yaml."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from tests.conftest import ROOT


@cache
def contract() -> dict[str, Any]:
    """The AsyncAPI document."""
    document: dict[str, Any] = yaml.safe_load((ROOT / "docs" / "asyncapi.yaml").read_text())
    return document


def _topic_pattern(address: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", address) + "$")


def _validator(message_key: str) -> Draft202012Validator:
    components = contract()["components"]
    schema = {"$ref": f"#/components/messages/{message_key}/payload", "components": components}
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def check_message(topic: str, payload: bytes) -> None:
    """Raise AssertionError unless the message is one the contract describes."""
    channels = contract()["channels"]
    for channel in channels.values():
        match = _topic_pattern(channel["address"]).match(topic)
        if match is None:
            continue
        parameters = channel["parameters"]
        for name, value in match.groupdict().items():
            allowed = parameters[name].get("enum")
            assert allowed is None or value in allowed, f"{name}={value} not in the contract"
        document = json.loads(payload)
        keys = [ref["$ref"].rsplit("/", 1)[1] for ref in channel["messages"].values()]
        if "eventType" in match.groupdict():
            messages = contract()["components"]["messages"]
            keys = [key for key in keys if messages[key]["name"] == document.get("type")]
            assert keys, f"event type {document.get('type')} is not in the contract"
        errors = list(_validator(keys[0]).iter_errors(document))
        assert not errors, f"{topic}: {errors[0].message}"
        return
    raise AssertionError(f"topic {topic} is not in the contract")
