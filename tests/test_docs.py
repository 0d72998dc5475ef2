"""The documentation cannot drift: commands, options and settings it shows are the real ones.

- every ``python -m autograder ...`` line in the site and the README parses with the CLI's own
  parser, and every option shown on its own (```--jobs```) is one the CLI accepts;
- every trait in the configuration reference exists with the documented default, and every
  configurable trait this project adds is in it;
- the README says nothing the site does not (each of its command lines is in a page);
- the site builds with Sphinx, warnings as errors (slow).
"""
from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from traitlets.config import Configurable

import autograder
from autograder.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
PAGES = sorted(DOCS.glob("*.md"))
FOREIGN_OPTIONS = {"--seccomp": "bwrap", "--nworkers": "worker", "--nthreads": "worker"}


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def command_lines() -> list[tuple[str, str]]:
    """(where, the arguments after ``python -m autograder``) of every command line shown."""
    found = []
    for path in [*PAGES, REPO / "README.md"]:
        for match in re.finditer(r"python -m autograder([^`#\n)]*)", _text(path).replace("\\\n", " ")):
            args = match.group(1).strip()
            if args and "..." not in args and "…" not in args and not args.startswith(">"):
                found.append((path.name, re.sub(r"<[^>]+>", "x", args.split(">")[0]).strip()))
    return found


def _options(parser) -> set[str]:
    found = set()
    for action in parser._actions:
        found |= {o for o in action.option_strings if o.startswith("--")}
        if isinstance(action.choices, dict):  # the subcommands
            for sub in action.choices.values():
                found |= _options(sub)
    return found


@pytest.mark.parametrize("where,args", command_lines())
def test_every_command_line_shown_is_one_the_cli_accepts(where, args, capsys):
    words = shlex.split(args)
    parser = build_parser()
    if len(words) == 1 and not words[0].startswith("-"):  # a command named in a sentence
        assert words[0] in _subcommands(parser), f"{where}: no command `{words[0]}`"
        return
    try:
        parser.parse_args(words)
    except SystemExit as exc:
        assert exc.code == 0, f"{where}: `python -m autograder {args}` is refused by the CLI"


def _subcommands(parser) -> set[str]:
    return {name for action in parser._actions if isinstance(action.choices, dict) for name in action.choices}


def test_every_option_shown_on_its_own_exists():
    accepted = _options(build_parser())
    for path in PAGES:
        text = _text(path)
        for match in re.finditer(r"`(--[a-z][a-z0-9-]*)[^`]*`", text):
            option = match.group(1)
            if option in FOREIGN_OPTIONS:
                around = text[max(0, match.start() - 300):match.end() + 300]
                assert FOREIGN_OPTIONS[option] in around, f"{path.name}: {option} is not ours; name its tool"
            else:
                assert option in accepted, f"{path.name}: `{option}` is no option of python -m autograder"


def configurables() -> dict[str, type[Configurable]]:
    classes = {}
    for info in pkgutil.walk_packages(autograder.__path__, "autograder."):
        if ".inside" in info.name or info.name.endswith("__main__"):
            continue  # inside/ runs in the sandbox; __main__ would run the CLI
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Configurable) and cls.__module__ == info.name and cls.class_own_traits(config=True):
                classes[cls.__name__] = cls
    return classes


def documented_settings() -> dict[str, str]:
    rows = re.findall(r"^\| `c\.(\w+\.\w+)` \| `([^`]*)` \|", _text(DOCS / "configuration.md"), re.M)
    return dict(rows)


def test_configuration_reference_matches_the_code():
    classes = configurables()
    documented = documented_settings()
    ours = {f"{name}.{trait}": cls.class_traits()[trait]
            for name, cls in classes.items() for trait in cls.class_own_traits(config=True)}
    assert sorted(set(ours) - set(documented)) == [], "traits missing from docs/configuration.md"
    for setting, default in documented.items():
        if setting.split(".")[0] not in classes:
            continue  # nbgrader's or nbconvert's own, in the table of what the shipped file sets
        assert setting in ours, f"docs/configuration.md names {setting}, which does not exist"
        assert ast.literal_eval(default) == ours[setting].default_value, setting


def test_the_readme_says_nothing_the_site_does_not():
    site = "\n".join(_text(p) for p in PAGES)
    readme = _text(REPO / "README.md")
    for block in re.findall(r"```sh\n(.*?)```", readme, re.S):
        for line in filter(None, (line.strip() for line in block.splitlines())):
            assert line in site, f"README shows `{line}`, which no page of docs/ does"
    assert len(readme.splitlines()) < 120, "the README is the front page; the detail belongs in docs/"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_site_builds_without_warnings(tmp_path):
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           str(DOCS), str(tmp_path / "html")], capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "html" / "security.html").is_file()
