"""Choice constants shared by the order models."""

from django.db import models


class Mode(models.TextChoices):
    PAPER = "paper", "paper"
    LIVE = "live", "live"


class Kind(models.TextChoices):
    SINGLE = "single", "single order"
    BRACKET = "bracket", "bracket"


class Leg(models.TextChoices):
    SINGLE = "single", "single order"
    PARENT = "parent", "bracket parent"
    TAKE_PROFIT = "take_profit", "take-profit child"
    STOP_LOSS = "stop_loss", "stop-loss child"


class Lifecycle(models.TextChoices):
    WORKING = "working", "working"
    FILLED = "filled", "filled"
    CANCELLED = "cancelled", "cancelled"
    REFUSED = "refused", "refused"
    UNKNOWN = "unknown", "unknown status"
