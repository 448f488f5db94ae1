"""The broker layer stands alone: no Venue, book, clearing, adapter or clock behind it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import onshore.broker

FORBIDDEN_PACKAGES = ("onshore.venue", "onshore.book", "onshore.clearing", "onshore.adapters", "onshore.journal")
CLOCKS = {"datetime", "time", "random"}


def test_importing_the_broker_layer_loads_no_venue_book_clearing_or_adapter() -> None:
    code = (
        "import sys\n"
        "import onshore.broker\n"
        "from onshore.broker import BrokerConfig, DisclosureRegistry\n"
        "config = BrokerConfig.default()\n"
        "DisclosureRegistry.builtin(config.disclosure_versions, 'us_clearing')\n"
        f"print(sorted(m for m in sys.modules if m.startswith({FORBIDDEN_PACKAGES!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_no_broker_module_imports_a_clock() -> None:
    for source in sorted(Path(onshore.broker.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                names = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not names & CLOCKS, f"{source.name} imports {names & CLOCKS}"
