"""The docs site builds strictly, the README stays short and portable, and nothing points outside the repo."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
README_MAX_LINES = 200
# Names of files that live only beside the repository (split so that this file does not name them itself).
OUTSIDE = ("../" + "shared", "DESIGN" + ".md", "docs/" + "sections")
TEXT_SUFFIXES = {".py", ".md", ".toml", ".yml", ".yaml", ".txt", ".cfg", ""}


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / f for f in out.splitlines() if Path(f).suffix in TEXT_SUFFIXES and (ROOT / f).is_file()]


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    """A broken link, a missing anchor or a page outside the nav fails the build (mkdocs.yml: strict)."""
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "cli" / "index.html").is_file()


def test_generated_reference_pages_are_current() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "docs_reference.py"), "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_readme_is_short_and_holds_on_any_machine() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    for machine_specific in ("PYENV_VERSION", "this machine", "3.12.1"):
        assert machine_specific not in text, machine_specific
    assert (ROOT / ".python-version").read_text().strip() == "3.12"


def test_no_file_refers_outside_the_repository() -> None:
    found = [f"{path.relative_to(ROOT)}: {name}" for path in _tracked_text_files()
             for name in OUTSIDE if name in path.read_text(errors="replace")]
    assert not found, found


def test_readme_links_point_at_files_in_the_repository() -> None:
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README.read_text())
    missing = [t for t in targets if not t.startswith("http") and not (ROOT / t).exists()]
    assert not missing, missing
