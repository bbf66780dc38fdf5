"""Every snippet in the README and docs/ works: each fenced ```python block runs, each
`delaysnn ...` line of a ```bash/```sh block parses with the real click commands, and the
README's quickstart (an SNN-delays checkpoint to Loihi 2) runs as written."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from delaysnn.cli import cli
from tests.conftest import needs_lava_here, run_cli
from tests.test_input_width import (  # noqa: F401  (fixtures: an SNN-delays state_dict, SHD-layout files)
    speech_dir,
    theirs,
)

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\s*$")
# a snippet that imports Lava itself (not only exporters' file writers) builds and runs a Lava graph
RUNS_LAVA = re.compile(r"^\s*(from|import) lava\b", re.M)


def fenced_blocks(path: Path) -> list[tuple[str, int, str]]:
    """``(language, first line number, code)`` of every fenced block of a Markdown file."""
    blocks, lang, start, body = [], None, 0, []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if lang is None:
            m = FENCE.match(line)
            if m:
                lang, start, body = m.group(1), number + 1, []
        elif line.startswith("```"):
            blocks.append((lang, start, "\n".join(body)))
            lang = None
        else:
            body.append(line)
    assert lang is None, f"{path.name}: a code block opened at line {start - 1} is never closed"
    return blocks


def delaysnn_commands(code: str) -> Iterator[list[str]]:
    """The arguments of every ``delaysnn ...`` (or ``python -m delaysnn ...``) command in shell code."""
    for line in code.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        for i, word in enumerate(words):
            if word == "delaysnn" and (i == 0 or words[i - 1] == "-m"):
                yield words[i + 1:]
                break


def parse_command(args: list[str]) -> None:
    """Parse ``delaysnn ARGS`` as the CLI would, without running it: unknown commands and
    options, bad choices and malformed values raise. A path that must exist is a placeholder in
    the docs (THEIRS.pt, DIR), so only that refusal is let through."""
    ctx = cli.make_context("delaysnn", list(args))
    name, cmd, rest = cli.resolve_command(ctx, ctx.protected_args + ctx.args)
    try:
        cmd.make_context(name, rest, parent=ctx).close()
    except click.BadParameter as err:
        if not (isinstance(err.param.type, click.Path) and err.param.type.exists):
            raise


def _cases(lang_ok: tuple[str, ...]) -> list:
    cases = []
    for page in PAGES:
        for lang, line, code in fenced_blocks(page):
            if lang in lang_ok:
                name = f"{page.relative_to(ROOT)}:{line}"
                marks = [pytest.mark.lava, pytest.mark.slow] if RUNS_LAVA.search(code) else []
                cases.append(pytest.param(code, id=name, marks=marks))
    return cases


PYTHON = _cases(("python",))
SHELL = _cases(("bash", "sh"))


def test_snippets_are_found() -> None:
    # the README's Python quickstart and the deployment guide's script at least
    ids = [p.id for p in PYTHON]
    assert any(i.startswith("README.md:") for i in ids) and any(i.startswith("docs/deploy-loihi.md:") for i in ids)
    assert sum(1 for code in (p.values[0] for p in SHELL) for _ in delaysnn_commands(code)) >= 20


@pytest.mark.parametrize("code", PYTHON)
def test_python_snippet_runs(code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # run where its outputs land in a temporary directory, reading the repository's examples/
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    if RUNS_LAVA.search(code):
        needs_lava_here()  # the snippet imports Lava itself: the bridge cannot stand in
        # a script would import Lava in a fresh process; here an earlier test may have fixed the
        # multiprocessing start method, which Lava's import sets
        from exporters._deps import import_lava_runtime

        import_lava_runtime()
    exec(compile(code, "<snippet>", "exec"), {"__name__": "__snippet__"})


@pytest.mark.parametrize("code", SHELL)
def test_shell_commands_parse(code: str) -> None:
    for args in delaysnn_commands(code):
        try:
            parse_command(args)
        except click.ClickException as err:
            pytest.fail(f"delaysnn {shlex.join(args)}: {err.format_message()}")


@pytest.mark.parametrize(
    "line",
    [
        "delaysnn exprot m.pt --target loihi",  # no such command
        "delaysnn export m.pt --target loihii",  # not a target
        "delaysnn verify m.pt --no-such-option",
        "delaysnn quantize m.pt",  # -o is required
        "torchrun -m delaysnn train --epochs many -o m.pt",
    ],
)
def test_a_stale_command_fails(line: str) -> None:
    (args,) = delaysnn_commands(line)
    with pytest.raises(click.ClickException):
        parse_command(args)


def test_readme_links_exist() -> None:
    # mkdocs --strict checks the site's links; the README is not part of the site
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", (ROOT / "README.md").read_text())
    local = [t for t in targets if "://" not in t]
    assert local and not [t for t in local if not (ROOT / t).exists()]


@pytest.mark.lava
@pytest.mark.slow
def test_readme_quickstart_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                                theirs: Path, speech_dir: Path) -> None:  # noqa: F811
    # the README's path for the most common user, command for command: convert, export, verify, estimate
    (code,) = (c for _, _, c in fenced_blocks(ROOT / "README.md") if "convert --from snn-delays THEIRS.pt" in c)
    commands = list(delaysnn_commands(code))
    assert [c[0] for c in commands] == ["convert", "export", "verify", "estimate"]
    monkeypatch.chdir(tmp_path)
    printed = {}
    for args in commands:
        args = [{"THEIRS.pt": str(theirs), "DIR": str(speech_dir)}.get(a, a) for a in args]
        status, out, err = run_cli(args, capsys)
        assert status == 0, f"delaysnn {shlex.join(args)}: {err}"
        printed[args[0]] = out
    assert (tmp_path / "m.h5").is_file()
    assert "mismatch" not in printed["verify"] and printed["verify"].count("identical") >= 4  # sim vs lava, netx, onnx, nir
    assert "cores" in printed["estimate"]
