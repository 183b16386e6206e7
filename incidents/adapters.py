"""PagerDuty and Alertmanager webhook senders → incidents and alerts."""
