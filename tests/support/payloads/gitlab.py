"""GitLab webhook payloads, exactly as GitLab documents them.

Source: GitLab's "Webhook events" page, https://docs.gitlab.com/user/project/integrations/webhook_events/
- DEPLOYMENT: the payload example of "Deployment events"
  (#deployment-events, request header `X-Gitlab-Event: Deployment Hook`). Note GitLab's own time
  format in `status_changed_at` (`2021-04-28 21:50:00 +0200`) and that only the short sha is a
  field: the full sha is the last segment of `commit_url`.
- PUSH: the payload example of "Push events" (#push-events, `X-Gitlab-Event: Push Hook`).

Copied field for field; tests derive variants (another status, another project) with `derive`,
never by editing these.
"""

import copy

DEPLOYMENT_EVENT = "Deployment Hook"
PUSH_EVENT = "Push Hook"

DEPLOYMENT = {
    "object_kind": "deployment",
    "status": "success",
    "status_changed_at": "2021-04-28 21:50:00 +0200",
    "deployment_id": 15,
    "deployable_id": 796,
    "deployable_url": "http://10.126.0.2:3000/root/test-deployment-webhooks/-/jobs/796",
    "environment": "staging",
    "environment_tier": "staging",
    "environment_slug": "staging",
    "environment_external_url": "https://staging.example.com",
    "project": {
        "id": 30,
        "name": "test-deployment-webhooks",
        "description": "",
        "web_url": "http://10.126.0.2:3000/root/test-deployment-webhooks",
        "avatar_url": None,
        "git_ssh_url": "ssh://vlad@10.126.0.2:2222/root/test-deployment-webhooks.git",
        "git_http_url": "http://10.126.0.2:3000/root/test-deployment-webhooks.git",
        "namespace": "Administrator",
        "visibility_level": 0,
        "path_with_namespace": "root/test-deployment-webhooks",
        "default_branch": "master",
        "ci_config_path": "",
        "homepage": "http://10.126.0.2:3000/root/test-deployment-webhooks",
        "url": "ssh://vlad@10.126.0.2:2222/root/test-deployment-webhooks.git",
        "ssh_url": "ssh://vlad@10.126.0.2:2222/root/test-deployment-webhooks.git",
        "http_url": "http://10.126.0.2:3000/root/test-deployment-webhooks.git",
    },
    "short_sha": "279484c0",
    "user": {
        "id": 1,
        "name": "Administrator",
        "username": "root",
        "avatar_url": "https://www.gravatar.com/avatar/e64c7d89f26bd1972efa854d13d7dd61?s=80&d=identicon",
        "email": "admin@example.com",
    },
    "user_url": "http://10.126.0.2:3000/root",
    "commit_url": "http://10.126.0.2:3000/root/test-deployment-webhooks/-/commit/279484c09fbe69ededfced8c1bb6e6d24616b468",
    "commit_title": "Add new file",
}

PUSH = {
    "object_kind": "push",
    "event_name": "push",
    "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
    "after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
    "ref": "refs/heads/master",
    "ref_protected": True,
    "checkout_sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
    "user_id": 4,
    "user_name": "John Smith",
    "user_username": "jsmith",
    "user_email": "john@example.com",
    "user_avatar": "https://s.gravatar.com/avatar/d4c74594d841139328695756648b6bd6?s=8://s.gravatar.com/avatar/d4c74594d841139328695756648b6bd6?s=80",
    "project_id": 15,
    "project": {
        "id": 15,
        "name": "Diaspora",
        "description": "",
        "web_url": "http://example.com/mike/diaspora",
        "avatar_url": None,
        "git_ssh_url": "git@example.com:mike/diaspora.git",
        "git_http_url": "http://example.com/mike/diaspora.git",
        "namespace": "Mike",
        "visibility_level": 0,
        "path_with_namespace": "mike/diaspora",
        "default_branch": "master",
        "homepage": "http://example.com/mike/diaspora",
        "url": "git@example.com:mike/diaspora.git",
        "ssh_url": "git@example.com:mike/diaspora.git",
        "http_url": "http://example.com/mike/diaspora.git",
    },
    "repository": {
        "name": "Diaspora",
        "url": "git@example.com:mike/diaspora.git",
        "description": "",
        "homepage": "http://example.com/mike/diaspora",
        "git_http_url": "http://example.com/mike/diaspora.git",
        "git_ssh_url": "git@example.com:mike/diaspora.git",
        "visibility_level": 0,
    },
    "commits": [
        {
            "id": "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327",
            "message": "Update Catalan translation to e38cb41.\n\nSee https://gitlab.com/gitlab-org/gitlab for more information",
            "title": "Update Catalan translation to e38cb41.",
            "timestamp": "2011-12-12T14:27:31+02:00",
            "url": "http://example.com/mike/diaspora/commit/b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327",
            "author": {"name": "Jordi Mallach", "email": "jordi@softcatala.org"},
            "added": ["CHANGELOG"],
            "modified": ["app/controller/application.rb"],
            "removed": [],
        },
        {
            "id": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
            "message": "fixed readme",
            "title": "fixed readme",
            "timestamp": "2012-01-03T23:36:29+02:00",
            "url": "http://example.com/mike/diaspora/commit/da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
            "author": {"name": "GitLab dev user", "email": "gitlabdev@dv6700.(none)"},
            "added": ["CHANGELOG"],
            "modified": ["app/controller/application.rb"],
            "removed": [],
        },
    ],
    "total_commits_count": 4,
}


def derive(payload: dict, **changes) -> dict:
    """A deep copy of a documented payload with top-level keys changed (None deletes the key)."""
    result = copy.deepcopy(payload)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result
