"""Views of the REST API, split by area; every one derives from ``AuditedCallMixin``."""
