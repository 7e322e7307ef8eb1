"""Every UI string is in the catalogues, and German is complete."""

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
CATALOGUES = ROOT / "commsapp" / "translations"


def _extract(tmp_path) -> set[str]:
    pot = tmp_path / "fresh.pot"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "pybabel"),
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-o",
            str(pot),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as handle:
        return {
            message.id if isinstance(message.id, str) else message.id[0]
            for message in read_po(handle)
            if message.id
        }


def test_german_catalogue_translates_every_ui_string(tmp_path):
    """A string added to the code without `make messages` and a German translation fails here."""
    with (CATALOGUES / "de" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        german = read_po(handle)
    translated = {
        (m.id if isinstance(m.id, str) else m.id[0])
        for m in german
        if m.id and (all(m.string) if isinstance(m.string, tuple) else m.string) and not m.fuzzy
    }
    missing = sorted(_extract(tmp_path) - translated)
    assert missing == [], f"{len(missing)} strings without German translation, first: {missing[:5]}"
