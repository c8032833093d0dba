"""The shell examples of the docs run as written, and answer what they show.

A runnable example is a ``.. code-block:: bash`` with the option
``:class: runs``. Its commands run in order, one bash per page (so variables
carry from block to block, as in the reader's shell), with ``BASE`` pointing
at a freshly started example app (examples.app under waitress, in-memory
backend, demo password ``demo-password``). The ``#`` lines right under a
command are its answer, one line per line of output: a JSON line is compared
as JSON in any key order, ``"..."`` standing for any string and ``, ...}``
for more keys; other text as it is, ``...`` standing for any text.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest
from wire_server import HTTP_TIMEOUT_SECONDS, ROOT, AppProcess

DOCS = ROOT / "docs"
#: The pages whose runnable examples are run, each against its own app.
PAGES = ["quickstart.rst", "sessions.rst", "graphql.rst", "mfa.rst"]
DEMO_PASSWORD = "demo-password"
MARKER = "@@docs-step@@"
BASH = shutil.which("bash")


@dataclass
class Step:
    """One command of a runnable block (continuation lines joined) and its answer."""

    command: str
    expected: list[str] = field(default_factory=list)


def code_blocks(text: str) -> list[tuple[str, set[str], list[str]]]:
    """Every ``code-block`` of a reST text: ``(language, classes, lines)``."""
    blocks = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        found = re.match(r"^(\s*)\.\. code-block:: *(\S+)\s*$", lines[i])
        i += 1
        if not found:
            continue
        indent, language = len(found.group(1)), found.group(2)
        classes: set[str] = set()
        while i < len(lines) and re.match(rf"^\s{{{indent + 1},}}:\w+:", lines[i]):
            option, _, value = lines[i].strip()[1:].partition(":")
            if option == "class":
                classes.update(value.split())
            i += 1
        body = []
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
            body.append(lines[i])
            i += 1
        while body and not body[-1].strip():
            body.pop()
        margin = min(len(line) - len(line.lstrip()) for line in body if line.strip())
        blocks.append((language, classes, [line[margin:] for line in body]))
    return blocks


def complete(command: str) -> bool:
    """False while a quote is still open (the command goes on on the next line)."""
    try:
        shlex.split(command)
    except ValueError:
        return False
    return True


def runnable_steps(page: str) -> list[Step]:
    """The commands of the runnable blocks of ``page``, in order."""
    steps: list[Step] = []
    for language, classes, lines in code_blocks((DOCS / page).read_text(encoding="utf-8")):
        if "runs" not in classes:
            continue
        assert language == "bash", f"{page}: a runnable block must be bash, not {language}"
        pending = ""
        for line in lines:
            if pending:
                pending += "\n" + line
            elif line.startswith("#"):
                assert steps, f"{page}: an answer before any command: {line}"
                steps[-1].expected.append(line[1:].strip())
                continue
            elif not line.strip():
                continue
            else:
                pending = line
            if not pending.endswith("\\") and complete(pending):
                steps.append(Step(pending))
                pending = ""
        assert not pending, f"{page}: a block ends inside a command: {pending}"
    return steps


def parsed(line: str) -> object:
    """The JSON value of a line, or its stripped text when it is no JSON."""
    try:
        return json.loads(line)
    except ValueError:
        return line.strip()


ANY = "\x00any string"
MORE = "\x00more keys"


def shown_json(text: str) -> object:
    """A shown JSON answer, ``"..."`` (any string) and ``, ...}`` (more keys) as markers; ValueError if no JSON."""
    text = text.replace('"..."', json.dumps(ANY))
    text = re.sub(r"(,\s*|\{\s*)\.\.\.\s*\}", lambda m: m.group(1) + json.dumps(MORE) + ": true}", text)
    return json.loads(text)


def fits(shown: object, value: object) -> bool:
    """``value`` is what ``shown`` shows, key order aside."""
    if shown == ANY:
        return isinstance(value, str)
    if isinstance(shown, dict):
        keys = set(shown) - {MORE}
        if not isinstance(value, dict) or not (keys <= set(value) if MORE in shown else keys == set(value)):
            return False
        return all(fits(shown[key], value[key]) for key in keys)
    if isinstance(shown, list):
        return isinstance(value, list) and len(shown) == len(value) and all(map(fits, shown, value))
    return type(shown) is type(value) and shown == value


def answers(expected: str, actual: str) -> bool:
    """A JSON answer fits the JSON shown, in any key order (``"..."``: any
    string, ``, ...}``: more keys); other text is compared as it is, ``...``
    standing for any text."""
    try:
        shown = shown_json(expected)
    except ValueError:
        pattern = ".*".join(map(re.escape, expected.split("...")))
        return re.fullmatch(pattern, actual.strip(), re.DOTALL) is not None
    return fits(shown, parsed(actual))


def script(steps: list[Step]) -> str:
    """The commands as pasted, strict (``set -euo pipefail``), a marker after each."""
    lines = ["set -euo pipefail"]
    for step in steps:
        lines += [step.command, f"printf '\\n%s\\n' '{MARKER}'"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def demo_app(tmp_path, monkeypatch):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", DEMO_PASSWORD)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    app = AppProcess(tmp_path / "app.log", {"AUTH_BCRYPT_ROUNDS": 4})
    app.start()
    yield app
    app.stop()


def run_page(page: str, env: dict, cwd: Path, log: Optional[Path] = None) -> None:
    """Run the runnable blocks of ``page`` in one bash; fail on a wrong answer or a failed command."""
    steps = runnable_steps(page)
    assert steps, f"{page} has no runnable example"
    assert any(step.expected for step in steps), f"{page} shows no answer to check"
    env = {**env, "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])}
    run = subprocess.run(
        [BASH, "-c", script(steps)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=HTTP_TIMEOUT_SECONDS * len(steps),
    )
    done = run.stdout.split(f"\n{MARKER}\n")[:-1]
    for step, output in zip(steps, done):
        got = [line for line in output.splitlines() if line.strip()]
        shown = "\n".join(f"# {line}" for line in step.expected)
        if step.expected and (len(got) != len(step.expected) or not all(map(answers, step.expected, got))):
            pytest.fail(f"{page}: the command\n{step.command}\nshows\n{shown}\nbut answered\n{output}", False)
    if run.returncode != 0 or len(done) != len(steps):
        stopped = steps[len(done)].command if len(done) < len(steps) else "(the end)"
        app_log = f"\napp log:\n{log.read_text()}" if log else ""
        pytest.fail(
            f"{page}: bash stopped at the command\n{stopped}\nexit {run.returncode}, stderr:\n{run.stderr}{app_log}",
            False,
        )


@pytest.mark.skipif(BASH is None, reason="needs bash")
@pytest.mark.parametrize("page", PAGES)
def test_the_shell_examples_of_the_page_run_and_answer_as_shown(page, demo_app, tmp_path):
    run_page(page, {**os.environ, "BASE": f"http://127.0.0.1:{demo_app.port}"}, tmp_path, demo_app.log)


def test_a_runnable_block_splits_into_commands_and_their_answers(tmp_path):
    steps = runnable_steps("quickstart.rst")
    assert steps[0].command.startswith("BASE=")
    assert all("\\\n" not in step.command or step.command.count("\n") for step in steps)
    assert any(step.expected == ['{"message": "ok"}'] for step in steps)


@pytest.mark.parametrize(
    ("expected", "actual", "match"),
    [
        ('{"message": "ok"}', '{"message":"ok"}', True),
        ('{"message": "ok"}', '{"message": "no"}', False),
        ('{"a": "...", "b": 1, ...}', '{"c": 2, "b": 1, "a": "x"}', True),
        ('{"a": "...", "b": 1, ...}', '{"a": "x", "b": 2, "c": 2}', False),
        ('{"a": "...", "b": 1}', '{"a": "x", "c": "y", "b": 1}', False),
        ('{"a": "..."}', '{"a": 1}', False),
        ('{"a": [{...}]}', '{"a": [{"b": 1}]}', True),
        ('{"ok": true}', '{"ok": 1}', False),
        ("401", "401", True),
        ("HTTP/1.1 401 ...", "HTTP/1.1 401 UNAUTHORIZED", True),
    ],
)
def test_answers_compare_json_as_json_and_dots_as_anything(expected, actual, match):
    assert answers(expected, actual) is match
