"""Insert the trading halt row of a new installation, in the halted state.

A new gateway must not accept orders until an operator has checked its
configuration and resumed trading on purpose.
"""

from django.db import migrations
from django.utils import timezone

NEW_INSTALLATION_REASON = "New installation: an operator must resume trading."


def insert_halted_row(apps, schema_editor):
    trading_halt = apps.get_model("orders", "TradingHalt")
    trading_halt.objects.using(schema_editor.connection.alias).get_or_create(
        id=1,
        defaults={
            "halted": True,
            "reason": NEW_INSTALLATION_REASON,
            "changed_by": "system",
            "changed_at": timezone.now(),
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0001_initial"),
    ]

    operations = [
        # Unapplying leaves the row, because 0001's reversal drops the table.
        migrations.RunPython(insert_halted_row, migrations.RunPython.noop),
    ]
