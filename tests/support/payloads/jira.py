"""Jira's `jira:issue_updated` webhook body, in the shape Atlassian documents in "Example callback
for an issue-related event": https://developer.atlassian.com/cloud/jira/platform/webhooks/
(top-level timestamp, webhookEvent, issue_event_type_name, user, issue with id, self, key and
fields, and a changelog whose items say what changed). Written from that description; names and
ids are made up. The status carries its statusCategory (key "new", "indeterminate" or "done"), as
Jira's issue representation does: https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/
"""

CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}


def issue_updated(*, key: str, status: str = "Done", category: str = "done", was: str = "In Progress") -> dict:
    site = "https://acme.atlassian.net"
    return {
        "timestamp": 1733473200000,
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": {
            "self": f"{site}/rest/api/2/user?accountId=5b10a2844c20165700ede21g",
            "accountId": "5b10a2844c20165700ede21g",
            "displayName": "Mia Krystof",
            "active": True,
            "timeZone": "Europe/Berlin",
        },
        "issue": {
            "id": "10051",
            "self": f"{site}/rest/api/2/issue/10051",
            "key": key,
            "fields": {
                "summary": "Add an alert on checkout error rate",
                "issuetype": {"id": "10002", "name": "Task", "subtask": False},
                "project": {"id": "10000", "key": key.split("-")[0], "name": "Operations"},
                "labels": ["opslog", "dev"],
                "status": {
                    "self": f"{site}/rest/api/2/status/10001",
                    "id": "10001",
                    "name": status,
                    "statusCategory": {"self": f"{site}/rest/api/2/statuscategory/3", **CATEGORIES[category]},
                },
                "updated": "2026-12-06T09:00:00.000+0100",
            },
        },
        "changelog": {
            "id": "10081",
            "items": [
                {
                    "field": "status",
                    "fieldtype": "jira",
                    "from": "3",
                    "fromString": was,
                    "to": "10001",
                    "toString": status,
                }
            ],
        },
    }
