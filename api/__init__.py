"""REST API of the gateway: bearer tokens with scopes, and one audit event per call."""
