"""Error types that map to the CLI's exit codes.

`InputError` is the user's data or settings being wrong: the CLI prints its one-line message and exits 2,
no traceback. Anything else is an internal failure (exit 1).
"""


class InputError(Exception):
    """Bad input: a file, column, value or setting the user can fix. Exit code 2."""


class MissingExtraError(InputError):
    """An optional dependency is not installed; the message carries the exact pip command."""

    def __init__(self, feature: str, packages: str, extra: str):
        super().__init__(
            f"{feature} needs optional packages: run `pip install 'prism-mmm[{extra}]'` "
            f"(or `pip install {packages}`)"
        )


class TooFewDraws(InputError):
    """A round's kept draws are too few to plan on (a quick run: one MAP draw for pymc)."""


class LockedError(InputError):
    """Another Prism loop holds the workspace lock."""


class Stopped(Exception):
    """Ctrl-C or SIGTERM ended a stage; the message says where, so the user knows what a resume will redo.

    Not a KeyboardInterrupt: typer would turn that into a bare exit 130 and drop the message."""


class GuardFailed(Exception):
    """An agent's file breaks a rule (a number not in the results, too many words, a wrong check): exit 1,
    nothing recorded; the problems say what to fix."""

    def __init__(self, path: str, problems: list[str]):
        super().__init__(f"{path}: " + "; ".join(problems))
        self.path, self.problems = path, problems
