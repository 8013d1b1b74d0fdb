"""Models and migrations agree, so no schema change ships without its migration."""

from django.core.management import call_command


def test_no_missing_migrations(gateway_db, capsys):
    call_command("makemigrations", "--check", "--dry-run", verbosity=1)

    assert "No changes detected" in capsys.readouterr().out
