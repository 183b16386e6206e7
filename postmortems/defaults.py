"""The contributing factors a fresh install starts with (seeded by migration 0006; admins edit,
archive and add to them). Kept here so the tests can put them back after a flush."""

DEFAULT_FACTORS = [
    ("change", "Change or deploy", "A code, schema or feature-flag change set it off."),
    ("configuration", "Configuration", "A setting, secret or environment value was wrong or drifted."),
    ("capacity", "Capacity", "Load outgrew what was provisioned: CPU, memory, connections, quotas."),
    ("dependency", "Dependency", "A third-party service, library or another team's system failed."),
    ("monitoring-gap", "Monitoring gap", "We found out late, or from customers, because nothing alerted."),
    ("process", "Process and communication", "A runbook, handover, review or message was missing or unclear."),
    ("infrastructure", "Infrastructure", "Hosts, network, DNS, storage or the platform underneath."),
    ("security", "Security", "An attack, a leaked credential or a vulnerability."),
    ("unknown", "Unknown", "We could not tell what contributed."),
]
