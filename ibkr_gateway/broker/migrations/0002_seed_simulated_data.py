"""Seed the simulated backend with two accounts, five contracts and quotes.

DU5550101 is a paper account holding AAPL, MSFT and SPY. U5550102 is a
simulated live account holding SPY and TSLA. The MEXI listing of AAPL has no
quote, so it reads as not subscribed. Amounts are decimal strings.
"""

from decimal import Decimal

from django.db import migrations

# 2023-12-11 22:47:39.712 UTC, a fixed time so that results are deterministic.
QUOTE_TIME_MS = 1702334859712

ACCOUNTS = [
    ("DU5550101", "Paper Trader", "USD", True, "DEMO"),
    ("U5550102", "Simulated Live Account", "USD", False, "INDIVIDUAL"),
]

# conid, symbol, name, description (listing exchange), sec types, currency
CONTRACTS = [
    (265598, "AAPL", "APPLE INC", "NASDAQ", "STK,OPT", "USD"),
    (38708077, "AAPL", "APPLE INC", "MEXI", "STK", "MXN"),
    (272093, "MSFT", "MICROSOFT CORP", "NASDAQ", "STK,OPT", "USD"),
    (756733, "SPY", "SPDR S&P 500 ETF TRUST", "ARCA", "STK,OPT", "USD"),
    (76792991, "TSLA", "TESLA INC", "NASDAQ", "STK,OPT", "USD"),
]

# account id, conid, quantity, average cost, realized P&L
POSITIONS = [
    ("DU5550101", 265598, "10", "172.35", "0"),
    ("DU5550101", 272093, "5", "370.12", "0"),
    ("DU5550101", 756733, "100", "437.43", "12.5"),
    ("U5550102", 756733, "5", "434.93", "0"),
    ("U5550102", 76792991, "7", "221.67142855", "0"),
]

# conid, last, bid, ask, last is previous close, availability
QUOTES = [
    (265598, "193.18", "193.06", "193.14", False, "realtime"),
    (272093, "374.51", "374.45", "374.55", False, "realtime"),
    (756733, "471.16", "471.14", "471.18", False, "realtime"),
    (76792991, "250.73", "250.70", "250.76", True, "delayed"),
]


def seed(apps, schema_editor):
    account_model = apps.get_model("broker", "SimulatedAccount")
    contract_model = apps.get_model("broker", "SimulatedContract")
    position_model = apps.get_model("broker", "SimulatedPosition")
    quote_model = apps.get_model("broker", "SimulatedQuote")

    accounts = {}
    for account_id, title, currency, paper, account_type in ACCOUNTS:
        accounts[account_id] = account_model.objects.create(
            account_id=account_id,
            title=title,
            currency=currency,
            paper=paper,
            account_type=account_type,
        )

    contracts = {}
    for conid, symbol, name, description, sec_types, currency in CONTRACTS:
        contracts[conid] = contract_model.objects.create(
            conid=conid,
            symbol=symbol,
            name=name,
            description=description,
            asset_class="STK",
            sec_types=sec_types,
            currency=currency,
        )

    for account_id, conid, quantity, average_cost, realized_pnl in POSITIONS:
        position_model.objects.create(
            account=accounts[account_id],
            contract=contracts[conid],
            quantity=Decimal(quantity),
            average_cost=Decimal(average_cost),
            realized_pnl=Decimal(realized_pnl),
        )

    for conid, last, bid, ask, previous_close, availability in QUOTES:
        quote_model.objects.create(
            contract=contracts[conid],
            last=Decimal(last),
            bid=Decimal(bid),
            ask=Decimal(ask),
            previous_close=previous_close,
            availability=availability,
            updated_ms=QUOTE_TIME_MS,
        )


def unseed(apps, schema_editor):
    account_model = apps.get_model("broker", "SimulatedAccount")
    contract_model = apps.get_model("broker", "SimulatedContract")
    account_ids = [row[0] for row in ACCOUNTS]
    conids = [row[0] for row in CONTRACTS]
    # Positions cascade with their accounts and quotes with their contracts.
    account_model.objects.filter(account_id__in=account_ids).delete()
    contract_model.objects.filter(conid__in=conids).delete()


class Migration(migrations.Migration):
    dependencies = [("broker", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
