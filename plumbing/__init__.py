"""What several apps use: Markdown rendering and sanitising, time and month fields with the
plausible-time rule, list-filter helpers, validators, strict and bounded serializers, paging.

It sits below every app (pyproject.toml's import-linter contract): nothing here imports one."""
