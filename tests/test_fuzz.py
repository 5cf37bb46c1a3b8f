"""Fuzzing: mutated scenarios and random command lines never crash ``cutover``.

A scenario is edited by hand and sent around, so ``cutover validate`` must answer every file
with exit 0 or exit 65 and a located message (``file:line:col``), never a traceback or an
internal error. The first test takes the tiny scenario (its ``extends:`` merged in) and
mutates it as a hurried editor would: keys deleted, duplicated, retyped, swapped and nested,
random unicode in keys and values, lines duplicated, the file cut short. The second draws
command lines from the CLI's commands and options with random values, and checks that each
ends in a documented exit code with a message, not an exception.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sim.cli import app
from sim.scenario.loading import load_doc

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "scenarios" / "tiny.yaml"
runner = CliRunner()
WORK = Path(tempfile.mkdtemp(prefix="cutover-fuzz-"))

BASE: dict[str, Any] = load_doc(TINY).data
BASE["distribution_library"] = str(ROOT / "distributions")
DISTRIBUTION_FILES = tuple(p.name for p in (ROOT / "distributions").glob("*.yaml"))
LOCATED = re.compile(r"^(error|warning) (\S+):(\d+):(\d+) ")
FUZZ = settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.dates(dt.date(1900, 1, 1), dt.date(2200, 12, 31)),
    st.sampled_from(["lab_switch - window", "go_live + 2w", "lab_switch[nope]", "window", ""]),
    st.lists(st.integers(-5, 5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(-5, 5), max_size=2),
)


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside ``data`` (not the root)."""
    if not isinstance(data, dict | list):
        return []
    out = []
    for key, value in data.items() if isinstance(data, dict) else enumerate(data):
        out.append((*prefix, key))
        out.extend(_paths(value, (*prefix, key)))
    return out


def _parent(data: Any, path: tuple) -> Any:
    for key in path[:-1]:
        data = data[key]
    return data


@st.composite
def mutated_scenarios(draw) -> str:
    data = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(data)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _parent(data, path), path[-1]
        kind = draw(st.sampled_from(["delete", "duplicate", "retype", "swap", "nest", "unicode"]))
        if kind == "delete":
            del parent[key]
        elif kind == "duplicate":
            if isinstance(parent, list):
                parent.insert(key, copy.deepcopy(parent[key]))
            else:
                parent[f"{key}{draw(st.sampled_from(['', '_', '2']))}x"] = parent[key]
        elif kind == "retype":
            parent[key] = draw(values)
        elif kind == "swap":
            keys = list(parent) if isinstance(parent, dict) else range(len(parent))
            other = draw(st.sampled_from(keys))
            parent[key], parent[other] = parent[other], parent[key]
        elif kind == "nest":
            parent[key] = draw(st.sampled_from([[parent[key]], {str(key): parent[key]}]))
        elif isinstance(parent, dict):  # unicode: a key renamed, or a value replaced
            value = parent.pop(key)
            parent[draw(st.text(min_size=1, max_size=12))] = value
        else:
            parent[key] = draw(st.text(max_size=30))
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
    edit = draw(st.sampled_from(["none", "truncate", "insert", "line"]))
    if edit == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    elif edit == "insert":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.text(min_size=1, max_size=8)) + text[at:]
    elif edit == "line":  # a duplicated line: usually a duplicate key
        lines = text.splitlines(keepends=True)
        at = draw(st.integers(0, len(lines) - 1))
        lines.insert(at, lines[at])
        text = "".join(lines)
    return text


def _check_answer(result, allowed: set[int]) -> None:
    """A documented exit code and, on failure, a message; never an exception."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception}"
    )
    assert result.exit_code in allowed, (result.exit_code, result.output)
    assert "Traceback" not in result.output and "internal error:" not in result.output
    if result.exit_code not in (0, 130):
        assert result.stderr.strip(), "a failure without a message"


@FUZZ
@given(text=mutated_scenarios())
def test_validate_answers_every_mutated_scenario_with_0_or_a_located_65(text):
    path = WORK / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    result = runner.invoke(app, ["validate", str(path)])
    _check_answer(result, {0, 65})
    if result.exit_code == 65:
        lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error ")]
        located = [ln for ln in lines if not ln.startswith("error in variant")]
        assert located, result.stderr
        for line in located:
            m = LOCATED.match(line)
            assert m and Path(m[2]).name in ("fuzz.yaml", *DISTRIBUTION_FILES), line


def _folder() -> Path:
    """A finished one-replication run to point ``compare`` at (made once)."""
    found = sorted((WORK / "runs").glob("*/blocks/block-00000.json"))
    if found:
        return found[0].parent.parent
    result = runner.invoke(app, ["run", str(TINY), "-v", "window-2w,window-4w", "--seed", "1",
                                 "--workers", "1", "-q", "--out", str(WORK / "runs")])  # fmt: skip
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])


texts = st.text(max_size=12)
numbers = st.one_of(st.integers(-(2**70), 2**70).map(str), texts)
paths = st.sampled_from(["nope.yaml", str(ROOT / "tests/broken/bad-yaml.yaml"), str(ROOT),
                         str(ROOT / "tests/broken/top-level-list.yaml"), "-"])  # fmt: skip
sets = st.one_of(
    st.sampled_from(["policies.coexistence_window_days=21", "horizon.end=2022-03-01",
                     "sites[ward].go_live=2022-04-06", "sites[nope].x=1", "=", "a.b.c=[1,"]),
    st.builds(lambda k, v: f"{k}={v}", texts, texts),
)  # fmt: skip


@st.composite
def command_lines(draw) -> list[str]:
    """A command with options drawn from those it takes, some values nonsense. ``run`` and
    ``sweep`` only get scenarios that fail to load, so that no simulation starts."""
    command = draw(st.sampled_from(["validate", "timeline", "run", "sweep", "compare", "schema",
                                    "bogus", "--version", "--help"]))  # fmt: skip
    argv = [command]
    if command in ("validate", "timeline"):
        argv.append(draw(st.one_of(st.just(str(TINY)), paths)))
        options = {"--set": sets, "--variant": st.one_of(texts, st.just("window-2w")),
                   "--csv": None, "--nope": texts}  # fmt: skip
    elif command in ("run", "sweep"):
        argv.append(draw(paths))
        options = {"-n": numbers, "--seed": numbers, "--workers": numbers, "--set": sets,
                   "--executor": st.sampled_from(["process", "dask", "spark"]),
                   "--block-size": numbers, "--variants": texts, "--grid": sets,
                   "--resume": paths, "--out": st.just(str(WORK / "out")), "-q": None,
                   "--detail": None}  # fmt: skip
    elif command == "compare":
        argv.append(draw(st.one_of(st.just("FOLDER"), paths)))
        options = {"--baseline": st.one_of(texts, st.just("window-4w")), "--json": None}
    else:
        options = {}
    for name in draw(st.lists(st.sampled_from(sorted(options)), max_size=4)) if options else []:
        if command == "timeline" and name == "--variant" and "--variant" in argv:
            continue
        argv.append(name)
        if options[name] is not None:
            argv.append(draw(options[name]))
    return argv


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(argv=command_lines())
def test_random_command_lines_end_in_a_documented_exit_code(argv):
    argv = [str(_folder()) if a == "FOLDER" else a for a in argv]
    result = runner.invoke(app, argv)
    _check_answer(result, {0, 2, 65, 66})
    if argv[0] in ("run", "sweep"):
        assert not (WORK / "out").exists() or not any(
            p for p in (WORK / "out").iterdir() if not p.name.startswith(".")
        ), argv


def test_what_the_fuzzer_found_stays_fixed(tmp_path):
    """Found by the mutations above: variants that are not a mapping crashed validation."""
    path = tmp_path / "v.yaml"
    path.write_text(f"extends: {TINY}\nvariants: oops\n")
    result = runner.invoke(app, ["validate", str(path)])
    _check_answer(result, {65})
    assert f"{path}:2:1 variants:" in result.stderr
