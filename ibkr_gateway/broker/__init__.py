"""Broker access: the ``IbkrBackend`` interface and its implementations."""
