#!/usr/bin/env python
"""Django's command-line utility for the IBKR compliance gateway."""

import os
import sys

# Exit code for an invalid configuration, as the audit commands use it.
EXIT_INVALID = 7


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ibkr_gateway.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # Settings and runtime config errors already name the value and the
        # fix, so a traceback would only bury the message.
        sys.stderr.write(f"Configuration error: {exc}\n")
        sys.exit(EXIT_INVALID)


if __name__ == "__main__":
    main()
