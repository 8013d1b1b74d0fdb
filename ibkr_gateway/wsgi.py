"""WSGI entry point; loads and checks the runtime config before serving."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ibkr_gateway.settings")

application = get_wsgi_application()

# Fail at start, not on the first request, when the config or the audit keys
# are invalid.
from audit.keys import check_keys  # noqa: E402
from ibkr_gateway.runtime_config import get_runtime_config  # noqa: E402

check_keys(get_runtime_config())
