"""GitHub and GitLab webhook senders (deployment statuses, pushes) → deploys."""
