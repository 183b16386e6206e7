# Incident, TimelineEntry, PostMortem and Remediation arrive with their issues.
