"""Serializers that describe the API's JSON responses in the OpenAPI schema.

The views build plain dicts in the shapes of ``IbkrBackend`` and the audit
readers; these classes only document those shapes for drf-spectacular.
"""

from rest_framework import serializers

DECIMAL_HELP = "Decimal string in plain notation, such as '193.1'; null when unknown."


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable error code, such as scope_denied.")
    message = serializers.CharField(help_text="What failed and what to do next.")
    request_id = serializers.UUIDField(
        help_text="Server-generated id, also in X-Request-ID."
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


class SessionSerializer(serializers.Serializer):
    authenticated = serializers.BooleanField()
    connected = serializers.BooleanField()
    competing = serializers.BooleanField()
    message = serializers.CharField()
    server_name = serializers.CharField(allow_null=True)
    server_version = serializers.CharField(allow_null=True)


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        ["ok", "degraded"], help_text="degraded while the broker session is logged out."
    )
    broker = SessionSerializer()
    audit_head_seq = serializers.IntegerField(allow_null=True)


class AccountSerializer(serializers.Serializer):
    account_id = serializers.CharField()
    title = serializers.CharField(allow_null=True)
    currency = serializers.CharField(allow_null=True)
    paper = serializers.BooleanField()
    type = serializers.CharField(allow_null=True)


class AccountsSerializer(serializers.Serializer):
    accounts = AccountSerializer(many=True)


class PositionSerializer(serializers.Serializer):
    account_id = serializers.CharField()
    conid = serializers.IntegerField()
    symbol = serializers.CharField(allow_null=True)
    description = serializers.CharField(allow_null=True)
    asset_class = serializers.CharField(allow_null=True)
    currency = serializers.CharField(allow_null=True)
    quantity = serializers.CharField(allow_null=True, help_text=DECIMAL_HELP)
    average_cost = serializers.CharField(allow_null=True, help_text=DECIMAL_HELP)
    market_price = serializers.CharField(allow_null=True, help_text=DECIMAL_HELP)
    market_value = serializers.CharField(allow_null=True, help_text=DECIMAL_HELP)
    unrealized_pnl = serializers.CharField(allow_null=True, help_text=DECIMAL_HELP)
    realized_pnl = serializers.CharField(allow_null=True, help_text=DECIMAL_HELP)


class PositionsSerializer(serializers.Serializer):
    account_id = serializers.CharField()
    positions = PositionSerializer(many=True)


class QuoteSerializer(serializers.Serializer):
    conid = serializers.IntegerField()
    last = serializers.CharField(allow_null=True, help_text=DECIMAL_HELP)
    bid = serializers.CharField(allow_null=True, help_text=DECIMAL_HELP)
    ask = serializers.CharField(allow_null=True, help_text=DECIMAL_HELP)
    previous_close = serializers.BooleanField(
        help_text="The price is the prior session's close."
    )
    halted = serializers.BooleanField()
    availability = serializers.CharField(allow_null=True)
    updated_ms = serializers.IntegerField(allow_null=True)


class SnapshotSerializer(serializers.Serializer):
    quotes = QuoteSerializer(many=True)


class ContractSerializer(serializers.Serializer):
    conid = serializers.IntegerField()
    symbol = serializers.CharField()
    name = serializers.CharField(allow_null=True)
    description = serializers.CharField(allow_null=True)
    sec_types = serializers.ListField(child=serializers.CharField())


class ContractSearchSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    contracts = ContractSerializer(many=True)


class AuditEntrySerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    event_id = serializers.CharField()
    event_type = serializers.CharField()
    occurred_at = serializers.CharField(allow_null=True)
    actor = serializers.CharField()
    operation = serializers.CharField()
    decision = serializers.CharField()
    outcome = serializers.CharField()
    error_code = serializers.CharField(allow_null=True)
    request_id = serializers.CharField(allow_null=True)
    account_hash = serializers.CharField(allow_null=True)
    key_id = serializers.CharField()
    payload = serializers.DictField(allow_null=True, help_text="The stored event.")


class AuditTailSerializer(serializers.Serializer):
    events = AuditEntrySerializer(many=True, help_text="Newest first.")


class BreakSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    event_id = serializers.CharField(allow_null=True)
    reason = serializers.CharField()


class HeadSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    mac = serializers.CharField()


class AuditVerifySerializer(serializers.Serializer):
    chain_valid = serializers.BooleanField()
    events_scanned = serializers.IntegerField()
    breaks = serializers.IntegerField()
    first_break = BreakSerializer(allow_null=True)
    head = HeadSerializer()
    triggers_present = serializers.BooleanField()
    missing_triggers = serializers.ListField(child=serializers.CharField())
    key_ids = serializers.ListField(child=serializers.CharField())
