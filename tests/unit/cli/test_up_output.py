"""What `sotay up` shows a person: text logs on a terminal, and where to go once it is running."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from services import cli


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("given", "tty", "expected"), [
    (None, True, "text"), (None, False, None), ("json", True, "json"), ("text", False, "text")])
def test_children_log_text_on_a_terminal_unless_told(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, given: str | None, tty: bool, expected: str | None
) -> None:
    if given is None:
        monkeypatch.delenv("LOG_FORMAT", raising=False)
    else:
        monkeypatch.setenv("LOG_FORMAT", given)
    monkeypatch.setattr(cli.sys, "stderr", Terminal() if tty else io.StringIO())
    env = cli.process_env(cli.Process("identity", ["x"], "identity"), tmp_path)
    assert env.get("LOG_FORMAT") == expected


def test_the_banner_names_the_address_and_the_demo_accounts(tmp_path: Path) -> None:
    accounts = tmp_path / "demo-accounts.txt"
    accounts.write_text("  admin          pw123456       quản trị tỉnh / province admin\n", encoding="utf-8")
    shown = cli.banner("http://127.0.0.1:8080", tmp_path, accounts)
    assert "is running: open http://127.0.0.1:8080/ in a browser" in shown
    assert "admin          pw123456       quản trị tỉnh" in shown and str(accounts) in shown
    assert "demo accounts" not in cli.banner("http://127.0.0.1:8080", tmp_path, tmp_path / "none.txt")
