"""The numbers of what a deploy may carry; the rules that use them are deploys.contract's, the one
deploy contract every path (API single and bulk, webhooks, imports, the admin) consults."""

import re

# A deploy's message is a line or a paragraph from CI, and it is shown whole on the deploy's page;
# more is a build log pasted by mistake. 10,000 is what the incidents API keeps a note or a
# remediation under (incidents.services.MAX_NOTE_LENGTH, postmortems.services.MAX_TEXT_LENGTH).
MAX_DEPLOY_MESSAGE_LENGTH = 10_000
# A week: a progressive rollout may take hours, even days; more is a mistake of unit (milliseconds
# sent as seconds) or a timer that never stopped, and would show as "1e+308 seconds".
MAX_DEPLOY_DURATION_SECONDS = 7 * 24 * 60 * 60
# GitHub's compare API lists up to 250 commits and GitLab's push event 20; 1,000 leaves room for a
# deploy after a long freeze while keeping a request (and the bulk endpoint's 1,000 deploys) bounded.
MAX_DEPLOY_COMMITS = 1000
# A commit id: git's (4 to 64 hex, SHA-1 or SHA-256, abbreviated down to git's minimum of 4) and other
# version control systems' (Mercurial's hex, `r1234`), as one token that fits DeployCommit.sha
# (64). Webhooks take git's hex only, 7 to 64 characters (deploys.contract.HOOKS).
COMMIT_SHA_MIN_LENGTH, COMMIT_SHA_MAX_LENGTH = 4, 64
COMMIT_SHA_CHARACTERS = re.compile(r"\A[0-9A-Za-z._-]+\Z")
COMMIT_SHA_MESSAGE = "Enter a commit id of letters, digits, '.', '_' and '-' only, e.g. a git sha."
