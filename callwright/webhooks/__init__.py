"""Post-call events: what an org's endpoints are told after (and around) each call."""
