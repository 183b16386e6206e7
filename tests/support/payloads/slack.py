"""Slack request payloads, in the shapes Slack documents them, and their signatures.

Shapes: docs.slack.dev — "Implementing slash commands" (the form-encoded body: token, team_id,
team_domain, channel_id, channel_name, user_id, user_name, command, text, api_app_id,
response_url, trigger_id), "Reference: interaction payloads" (block_actions: type, user, team,
trigger_id, response_url, container, actions[]; view_submission: type, team, user, trigger_id,
view{id, hash, callback_id, private_metadata, state.values}), the Events API's
url_verification ({token, challenge, type}) and event_callback wrapper (token, team_id,
api_app_id, event, type, event_id, event_time), and the reaction_added / reaction_removed and
message events' own examples. Ids are the docs' placeholders (T123ABC456 → the test workspace's).
Signing follows "Verifying requests from Slack": v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}"),
worked out here, not with the code under test.
"""

import hashlib
import hmac
import itertools
import json
import time
from urllib.parse import urlencode

TEAM = "T0001"
_ids = itertools.count(1)


def _next(prefix: str) -> str:
    return f"{prefix}{next(_ids):08d}"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict:
    timestamp = int(time.time()) if timestamp is None else timestamp
    base = f"v0:{timestamp}:".encode() + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"HTTP_X_SLACK_REQUEST_TIMESTAMP": str(timestamp), "HTTP_X_SLACK_SIGNATURE": signature}


def slash_command(*, user_id: str, text: str = "", response_url: str, channel_id: str = "C0GENERAL") -> dict:
    return {
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "team_id": TEAM,
        "team_domain": "example",
        "channel_id": channel_id,
        "channel_name": "general",
        "user_id": user_id,
        "user_name": "someone",
        "command": "/incident",
        "text": text,
        "api_app_id": "A123456",
        "response_url": response_url,
        "trigger_id": _next("13345224609.738474920.8088930838d88f008e0"),
    }


def form_body(fields: dict) -> bytes:
    return urlencode(fields).encode()


def interactivity_body(payload: dict) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def block_actions(
    *, user_id: str, action_id: str, value: str = "", response_url: str, selected: str = "", block_id: str = ""
) -> dict:
    action = {
        "action_id": action_id,
        "block_id": block_id or f"incident-{value}",
        "type": "static_select" if selected else "button",
        "action_ts": "1548426417.840180",
    }
    if selected:
        action["selected_option"] = {"text": {"type": "plain_text", "text": "deploy"}, "value": selected}
    else:
        action["value"] = value
        action["text"] = {"type": "plain_text", "text": action_id}
    return {
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "example"},
        "user": {"id": user_id, "username": "someone", "team_id": TEAM},
        "api_app_id": "A123456",
        "token": "9s8d9as89d8as9d8as989",
        "container": {"type": "message", "message_ts": "1548261231.000200", "channel_id": "C0ANNOUNCE"},
        "trigger_id": _next("12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3"),
        "channel": {"id": "C0ANNOUNCE", "name": "incidents"},
        "response_url": response_url,
        "actions": [action],
    }


def view_submission(*, user_id: str, callback_id: str, values: dict, private_metadata: str = "") -> dict:
    """`values`: block_id → a string (plain_text_input), ("option", v) (static_select) or a list (multi)."""
    state = {}
    for block_id, value in values.items():
        if isinstance(value, tuple):
            element = {
                "type": "static_select",
                "selected_option": {"text": {"type": "plain_text", "text": value[1]}, "value": value[1]},
            }
        elif isinstance(value, list):
            element = {
                "type": "multi_static_select",
                "selected_options": [{"text": {"type": "plain_text", "text": v}, "value": v} for v in value],
            }
        else:
            element = {"type": "plain_text_input", "value": value}
        state[block_id] = {"value": element}
    return {
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "example"},
        "user": {"id": user_id, "username": "someone", "team_id": TEAM},
        "api_app_id": "A123456",
        "token": "9s8d9as89d8as9d8as989",
        "trigger_id": _next("12466734323.1395872398.b3e0b5d21d6a0ba4f2a9d2a5a1c64a3f"),
        "view": {
            "id": _next("VNHU13V36"),
            "team_id": TEAM,
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "hash": "156663117.cd33ad1f",
            "state": {"values": state},
        },
    }


def url_verification(challenge: str = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P") -> dict:
    return {"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": challenge, "type": "url_verification"}


def event_callback(event: dict, *, event_id: str | None = None) -> dict:
    return {
        "token": "XXYYZZ",
        "team_id": TEAM,
        "api_app_id": "A123ABC456",
        "event": event,
        "type": "event_callback",
        "event_id": event_id or _next("Ev"),
        "event_time": int(time.time()),
    }


def message(*, channel: str, user: str, text: str, ts: str) -> dict:
    return {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel_type": "channel",
    }


def reaction(kind: str, *, user: str, item_user: str, channel: str, ts: str, reaction: str = "pushpin") -> dict:
    return {
        "type": kind,
        "user": user,
        "reaction": reaction,
        "item_user": item_user,
        "item": {"type": "message", "channel": channel, "ts": ts},
        "event_ts": f"{float(ts) + 60:.6f}",
    }
