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


# ------------------------------------------------------------------ every documented command parses
DOC_FILES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
GENERATED = {ROOT / "docs" / "reference" / "cli.md"}
BLOCK_COMMAND = re.compile(r"(?:^|&&\s*|\$ )(?:\.venv/bin/)?prism\s+(.*)")
INLINE_COMMAND = re.compile(r"`(?:\.venv/bin/)?prism ([a-z][^`]*)`")


def _block_commands(text: str) -> list[str]:
    """`prism …` lines inside fenced or indented code blocks, without their trailing comment."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            fenced = not fenced
            continue
        match = BLOCK_COMMAND.search(line.strip()) if fenced or line.startswith("    ") else None
        if match:
            out.append(re.sub(r"\s+#.*$", "", match.group(1)))
    return out


def _resolve(args: list[str], group_ok: bool = False):
    """The click command an argument list names, and the arguments left for it."""
    import typer

    from prism.cli import app

    cmd, path = typer.main.get_command(app), ["prism"]
    while hasattr(cmd, "commands") and args and args[0] in cmd.commands:
        path.append(args[0])
        cmd, args = cmd.commands[args[0]], args[1:]
    runs_alone = getattr(cmd, "invoke_without_command", False)  # `prism portfolio --path …` as well as `… optimize`
    assert group_ok or runs_alone or not hasattr(cmd, "commands"), f"{' '.join(path)} needs a subcommand, got {args[:1]}"
    return cmd, " ".join(path), args


def test_every_documented_command_block_parses() -> None:
    """A command shown in a code block parses as written: the command exists, its options exist and take
    the values shown (nothing runs)."""
    import shlex

    seen = 0
    for path in set(DOC_FILES) - GENERATED:
        for line in _block_commands(path.read_text()):
            cmd, name, args = _resolve(shlex.split(line))
            cmd.make_context(name, list(args))  # raises on an unknown option or a bad value
            seen += 1
    assert seen >= 30


def test_every_command_named_in_the_text_exists_with_its_options() -> None:
    """`prism …` in running text: the command exists and every option it names is one of its options."""
    seen = 0
    for path in set(DOC_FILES) - GENERATED:
        for text in INLINE_COMMAND.findall(path.read_text()):
            for alternative in text.split(" | "):  # `prism explore | tune | …` names several commands
                words = alternative.replace("[", " ").replace("]", " ").split()
                first = [w for w in words if not w.startswith("-")][:2]
                cmd, name, _ = _resolve(first, group_ok=True)
                known = {o for p in cmd.params for o in p.opts + p.secondary_opts} | {"--help"}
                named = {w.split("=")[0] for w in words if w.startswith("-") and len(w) > 1}
                assert named <= known, f"{path.relative_to(ROOT)}: `prism {alternative}`: {sorted(named - known)}"
                seen += 1
    assert seen >= 50


def _readme_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)\n```", README.read_text(), flags=re.S)


def test_the_first_two_readme_commands_are_the_demo_and_what_ci_runs() -> None:
    first, second = _readme_blocks()[:2]
    assert first == "python3.12 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/prism demo"
    assert second in (ROOT / ".ci" / "run").read_text().splitlines()


def test_every_documented_python_script_exists_and_runs_as_a_program() -> None:
    """`python bench/x.py …` and the seed-style `python discover.py …` in the docs name real scripts with a
    main block (the benchmarks print tables, so their run is not part of the test command)."""
    import ast

    named = {m for path in DOC_FILES for m in re.findall(r"python ((?:bench/)?\w+\.py)\b", path.read_text())}
    assert len(named) >= 8
    for script in named:
        source = (ROOT / script).read_text()
        assert "__main__" in source, script
        ast.parse(source)
