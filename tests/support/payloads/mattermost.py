"""Mattermost request payloads, in the shapes Mattermost documents and sends them.

Shapes: developers.mattermost.com — "Slash commands" (an outgoing request, form-encoded:
channel_id, channel_name, command, response_url, team_domain, team_id, text, token, trigger_id,
user_id, user_name), "Interactive messages" (a button's post, JSON: user_id, user_name,
channel_id, channel_name, team_id, team_domain, post_id, trigger_id, type, data_source, context —
model.PostActionIntegrationRequest), and "Interactive dialogs" (a submission, JSON: type
"dialog_submission", callback_id, state, user_id, channel_id, team_id, submission, cancelled —
model.SubmitDialogRequest). Ids are 26 lowercase letters and digits, as Mattermost makes them;
a trigger id is base64 of "client id:user id:millis:signature".
"""

import base64
import itertools
import json
import time
from urllib.parse import urlencode

TEAM = "rdc9bgriktyx9p4kowh3dmgqyc"
CHANNEL = "gmpcn3ybqjgi3fe3xc6hxzwxqy"
_ids = itertools.count(1)


def trigger_id(user_id: str) -> str:
    client_id = f"trg{next(_ids):023d}"
    return base64.b64encode(f"{client_id}:{user_id}:{int(time.time() * 1000)}:MEUCIQDsig==".encode()).decode()


def slash_command(
    *,
    user_id: str,
    text: str = "",
    response_url: str,
    token: str,
    channel_id: str = CHANNEL,
    command: str = "/incident",
) -> dict:
    return {
        "channel_id": channel_id,
        "channel_name": "town-square",
        "command": command,
        "response_url": response_url,
        "team_domain": "acme",
        "team_id": TEAM,
        "text": text,
        "token": token,
        "trigger_id": trigger_id(user_id),
        "user_id": user_id,
        "user_name": "someone",
    }


def form_body(fields: dict) -> bytes:
    return urlencode(fields).encode()


def button(*, user_id: str, context: dict, post_id: str = "", channel_id: str = CHANNEL) -> dict:
    """What Mattermost posts to a button's integration URL when it is pressed."""
    return {
        "user_id": user_id,
        "user_name": "someone",
        "channel_id": channel_id,
        "channel_name": "incidents",
        "team_id": TEAM,
        "team_domain": "acme",
        "post_id": post_id or f"post{next(_ids):022d}",
        "trigger_id": trigger_id(user_id),
        "type": "button",
        "data_source": "",
        "context": context,
    }


def dialog_submission(*, user_id: str, state: str, submission: dict, channel_id: str = CHANNEL) -> dict:
    return {
        "type": "dialog_submission",
        "callback_id": "opslog_file",
        "state": state,
        "user_id": user_id,
        "channel_id": channel_id,
        "team_id": TEAM,
        "submission": submission,
        "cancelled": False,
    }


def json_body(payload: dict) -> bytes:
    return json.dumps(payload).encode()
