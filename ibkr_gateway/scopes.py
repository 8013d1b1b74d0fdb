"""OAuth-style scopes of the gateway: flat strings compared exactly."""

HEALTH_READ = "ibkr:health:read"
ACCOUNTS_READ = "ibkr:accounts:read"
POSITIONS_READ = "ibkr:positions:read"
MARKETDATA_READ = "ibkr:marketdata:read"
ORDERS_READ = "ibkr:orders:read"
RISK_READ = "ibkr:risk:read"
AUDIT_READ = "ibkr:audit:read"
AUDIT_EXPORT = "ibkr:audit:export"
ORDERS_PREVIEW = "ibkr:orders:preview"
APPROVALS_CREATE = "ibkr:approvals:create"
ORDERS_PAPER_SUBMIT = "ibkr:orders:paper:submit"
ORDERS_PAPER_CANCEL = "ibkr:orders:paper:cancel"
ORDERS_PAPER_MODIFY = "ibkr:orders:paper:modify"
ORDERS_LIVE_SUBMIT = "ibkr:orders:live:submit"
ORDERS_LIVE_CANCEL = "ibkr:orders:live:cancel"
ORDERS_LIVE_MODIFY = "ibkr:orders:live:modify"
TRADING_HALT = "ibkr:trading:halt"

# No scope implies another, so a principal has exactly the strings it was
# granted from this set.
ALL_SCOPES = frozenset(
    {
        HEALTH_READ,
        ACCOUNTS_READ,
        POSITIONS_READ,
        MARKETDATA_READ,
        ORDERS_READ,
        RISK_READ,
        AUDIT_READ,
        AUDIT_EXPORT,
        ORDERS_PREVIEW,
        APPROVALS_CREATE,
        ORDERS_PAPER_SUBMIT,
        ORDERS_PAPER_CANCEL,
        ORDERS_PAPER_MODIFY,
        ORDERS_LIVE_SUBMIT,
        ORDERS_LIVE_CANCEL,
        ORDERS_LIVE_MODIFY,
        TRADING_HALT,
    }
)
