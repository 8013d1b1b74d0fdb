"""The progress line: drawn only on a terminal, only for long runs."""

import io

from audit.keys import DEVELOPMENT_KEY, DEVELOPMENT_KEY_ID
from audit.progress import Progress
from audit.reader import open_readonly
from audit.verifier import verify_chain
from tests.conftest import append_events


class Terminal(io.StringIO):
    def isatty(self):
        return True


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_silent_when_not_a_terminal():
    stream = io.StringIO()
    progress = Progress("verify", stream=stream, delay=0)

    progress(10, 100)
    progress.finish()

    assert stream.getvalue() == ""


def test_silent_during_initial_delay():
    stream, clock = Terminal(), Clock()
    progress = Progress("verify", stream=stream, delay=1.0, clock=clock)

    clock.now += 0.5
    progress(10, 100)

    assert stream.getvalue() == ""


def test_draws_count_and_percent_after_delay():
    stream, clock = Terminal(), Clock()
    progress = Progress("verify", stream=stream, delay=1.0, clock=clock)

    clock.now += 2
    progress(50, 200)
    progress.finish()

    assert stream.getvalue() == "\rverify: 50/200 rows (25%)\n"


def test_redraws_at_most_once_per_interval():
    stream, clock = Terminal(), Clock()
    progress = Progress("export", stream=stream, delay=0, interval=0.5, clock=clock)

    progress(1, None)
    clock.now += 0.1
    progress(2, None)
    clock.now += 0.5
    progress(3, None)

    assert stream.getvalue() == "\rexport: 1 rows\rexport: 3 rows"


def test_verify_reports_progress_with_head_total(gateway_db):
    append_events(4)
    calls = []
    connection = open_readonly(gateway_db)

    verify_chain(
        connection,
        {DEVELOPMENT_KEY_ID: DEVELOPMENT_KEY},
        progress=lambda done, total: calls.append((done, total)),
        progress_every=2,
    )

    assert calls == [(2, 4), (4, 4), (4, 4)]
