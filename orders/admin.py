"""Admin of the order side; importing the modules below registers their pages.

Every order table is read-only in the admin. The only writes are halt and
resume (``admin_halt``) and granting an approval (``admin_previews``), and
both go through the same workflow functions as the CLI and the API.
"""

from orders import (  # noqa: F401
    admin_halt,
    admin_previews,
    admin_reconcile,
    admin_records,
)
