"""CDEvents out: each deploy and incident stage, as a CDEvent (spec v0.4.1) in a binary-mode
CloudEvent, posted to the CDEvents sinks that want it; docs/integrations/cdevents-out.md."""
