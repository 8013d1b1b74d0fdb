"""Serializers that document the order endpoints in the OpenAPI schema.

The order views parse their JSON bodies themselves (``orders.intent``), so
that prices stay exact decimals; these classes only describe the shapes.
"""

from rest_framework import serializers

PRICE_HELP = 'Decimal string, such as "190.25"; JSON numbers are refused.'


class OrderFieldsSerializer(serializers.Serializer):
    account_id = serializers.CharField(help_text="IBKR account id, such as DU1234567.")
    symbol = serializers.CharField(help_text="Symbol on the risk policy's list.")
    side = serializers.ChoiceField(choices=["BUY", "SELL"])
    quantity = serializers.CharField(help_text="Positive whole number of shares.")
    order_type = serializers.ChoiceField(choices=["LMT", "MKT", "STP"])
    limit_price = serializers.CharField(
        required=False, help_text=PRICE_HELP + " Required for LMT and STP."
    )
    tif = serializers.ChoiceField(choices=["DAY", "GTC"])
    client_context = serializers.DictField(
        required=False,
        help_text="Free-form rationale, at most 8 KiB; audited after "
        "redaction, never sent to the broker.",
    )


class BracketFieldsSerializer(OrderFieldsSerializer):
    take_profit_price = serializers.CharField(help_text=PRICE_HELP)
    stop_loss_price = serializers.CharField(help_text=PRICE_HELP)


class PreviewSerializer(serializers.Serializer):
    preview_id = serializers.UUIDField()
    mode = serializers.ChoiceField(choices=["paper", "live"])
    kind = serializers.ChoiceField(choices=["single", "bracket"])
    order = serializers.DictField(help_text="The validated order fields.")
    policy_id = serializers.CharField()
    notional = serializers.CharField()
    checks = serializers.DictField(help_text="Quote and reference price used.")
    whatif = serializers.DictField(
        allow_null=True,
        help_text="The broker's estimate of commission and margin change, or "
        "the error code when it gave none.",
    )
    created_at = serializers.CharField()
    expires_at = serializers.CharField()


class ApprovalRequestSerializer(serializers.Serializer):
    preview_id = serializers.UUIDField()
    account_id = serializers.CharField()
    reason = serializers.CharField(required=False)


class ApprovalSerializer(serializers.Serializer):
    approval_id = serializers.UUIDField()
    preview_id = serializers.UUIDField()
    granted_by = serializers.CharField()
    status = serializers.CharField()
    created_at = serializers.CharField()
    expires_at = serializers.CharField()


class SubmitRequestSerializer(OrderFieldsSerializer):
    preview_id = serializers.UUIDField()
    approval_id = serializers.UUIDField()
    take_profit_price = serializers.CharField(
        required=False, help_text="Bracket only. " + PRICE_HELP
    )
    stop_loss_price = serializers.CharField(
        required=False, help_text="Bracket only. " + PRICE_HELP
    )


class CancelRequestSerializer(serializers.Serializer):
    account_id = serializers.CharField()
    client_context = serializers.DictField(required=False)


class OrderSerializer(serializers.Serializer):
    broker_order_id = serializers.CharField()
    coid = serializers.CharField()
    leg = serializers.CharField()
    symbol = serializers.CharField()
    conid = serializers.IntegerField()
    side = serializers.CharField()
    order_type = serializers.CharField()
    quantity = serializers.CharField()
    price = serializers.CharField(allow_null=True)
    tif = serializers.CharField()
    status = serializers.CharField(help_text="IBKR status, verbatim.")
    lifecycle = serializers.CharField()
    filled_quantity = serializers.CharField()
    remaining_quantity = serializers.CharField()
    average_price = serializers.CharField(allow_null=True)


class OrderResultSerializer(serializers.Serializer):
    mode = serializers.CharField()
    coid = serializers.CharField(required=False)
    idempotency_key = serializers.CharField(required=False)
    orders = OrderSerializer(many=True)


class OrderListSerializer(serializers.Serializer):
    mode = serializers.CharField()
    orders = OrderSerializer(many=True)


class HaltRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(help_text="Why trading is halted; one line.")


class HaltSerializer(serializers.Serializer):
    halted = serializers.BooleanField()
    changed = serializers.BooleanField()
    reason = serializers.CharField()
    changed_by = serializers.CharField()
    changed_at = serializers.CharField()
