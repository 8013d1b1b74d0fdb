"""Order side of the gateway: the trading halt state, with audited changes."""
