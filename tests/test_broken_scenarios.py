"""Every broken scenario yields its documented exit code, a located message, no traceback.

Each file in tests/broken/ states what it expects in its first line::

    # expect: exit=65 line=7 field=sites[0].lab msg="unknown lab"

The test runs ``cutover validate`` on it and checks the exit code, that a diagnostic names
the file (``file=`` when another one is to blame), the line and the field (when given) and
contains the message, and that no Python traceback escapes. Cases that cannot be written as
text (binary data, a directory, a missing file) are built here.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sim.cli import app

BROKEN = Path(__file__).parent / "broken"
runner = CliRunner()


def _expectation(path: Path) -> dict[str, str]:
    first = path.read_text(encoding="utf-8").splitlines()[:1]
    if not first or not first[0].startswith("# expect:"):
        return {"exit": "65", "line": "1", "msg": "empty file"}
    return dict(item.split("=", 1) for item in shlex.split(first[0][len("# expect:") :]))


def _validate(target: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["validate", str(target)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_corpus_is_large_enough():
    assert len(list(BROKEN.glob("*.yaml"))) >= 20


@pytest.mark.parametrize("path", sorted(BROKEN.glob("*.yaml")), ids=lambda p: p.stem)
def test_broken_scenario_is_reported_precisely(path: Path):
    want = _expectation(path)
    code, output = _validate(path)
    assert code == int(want["exit"]), output
    assert "Traceback" not in output
    located = re.compile(rf"{re.escape(want.get('file', path.name))}:{want['line']}:\d+ ")
    lines = [line for line in output.splitlines() if located.search(line)]
    assert lines, f"no diagnostic at {path.name}:{want['line']}:\n{output}"
    if "field" in want:
        lines = [line for line in lines if f" {want['field']}: " in line]
        assert lines, f"no diagnostic naming field {want['field']}:\n{output}"
    assert any(want["msg"] in line for line in lines), output


def test_binary_file(tmp_path: Path):
    target = tmp_path / "binary.yaml"
    target.write_bytes(bytes(range(256)) * 4)
    code, output = _validate(target)
    assert code == 65
    assert f"{target}:1:1" in output and "binary data" in output


def test_not_utf8_names_the_line(tmp_path: Path):
    target = tmp_path / "latin1.yaml"
    target.write_bytes("name: a\ntitle: V\xe4stra\n".encode("latin-1"))
    code, output = _validate(target)
    assert code == 65
    assert f"{target}:2:1" in output and "UTF-8" in output


def test_directory(tmp_path: Path):
    code, output = _validate(tmp_path)
    assert code == 66
    assert "is a directory" in output


def test_missing_file(tmp_path: Path):
    code, output = _validate(tmp_path / "nope.yaml")
    assert code == 66
    assert "no such file" in output


def test_all_errors_in_one_pass(tmp_path: Path):
    target = tmp_path / "many.yaml"
    target.write_text(
        f"extends: {(BROKEN.parent.parent / 'scenarios' / 'tiny.yaml').as_posix()}\n"
        "name: many\n"
        "sites:\n"
        "  - {id: a, name: A, kind: health_center, area: sout, lab: lob, legacy_record: asynja,\n"
        "     legacy_client: asynja, go_live: lab_switch, orders_per_day: 25, signers: 2}\n",
        encoding="utf-8",
    )
    code, output = _validate(target)
    assert code == 65
    for fragment in ("unknown site kind", "unknown area", "unknown lab"):
        assert fragment in output
