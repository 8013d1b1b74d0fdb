"""Subprocess worker for concurrency tests: appends events from threads.

Usage: ``python -m tests.helpers.append_worker DB_PATH THREADS COUNT MODE``
where MODE is ``plain`` (one ``log_event`` per append) or ``order`` (each
append inside a transaction that also writes ``auth_group``, plus one such
transaction per append that rolls back). Prints a JSON summary and exits 1
if any thread raised.
"""

import json
import os
import sys
import threading
import traceback


class RolledBack(Exception):
    """Raised on purpose to roll an order-style transaction back."""


def main():
    db_path, threads, count, mode = sys.argv[1:5]
    threads, count = int(threads), int(count)
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ibkr_gateway.settings")

    import django

    django.setup()

    from django.contrib.auth.models import Group
    from django.db import connection, transaction

    import audit

    errors = []
    start = threading.Barrier(threads)
    pid = os.getpid()

    def append(thread_index, index, rolled_back=False):
        audit.log_event(
            "test_event",
            operation="tests.concurrency",
            actor={"kind": "system", "id": f"worker:{pid}:{thread_index}"},
            decision="allow",
            outcome="completed",
            metadata={"index": index, "rolled_back": rolled_back},
        )

    def work(thread_index):
        try:
            start.wait()
            for index in range(count):
                if mode == "plain":
                    append(thread_index, index)
                    continue
                name = f"{pid}-{thread_index}-{index}"
                with transaction.atomic():
                    Group.objects.create(name=f"kept-{name}")
                    append(thread_index, index)
                try:
                    with transaction.atomic():
                        Group.objects.create(name=f"dropped-{name}")
                        append(thread_index, index, rolled_back=True)
                        raise RolledBack()
                except RolledBack:
                    pass
        except Exception:
            errors.append(traceback.format_exc())
        finally:
            connection.close()

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    print(json.dumps({"pid": pid, "errors": errors}))
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
