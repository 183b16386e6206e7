# The tracker tests' local fake of GitHub's and Jira's REST APIs, as the `fake` fixture.
from tests.support.trackers import fake  # noqa: F401
