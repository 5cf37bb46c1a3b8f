"""YAML documents that remember where every value came from.

Scenario files are merged (``extends:``), patched (variants, ``--set``) and validated; an error
found at the end must still point at the line a planner typed. A :class:`Doc` is plain Python
data (dicts, lists, scalars) plus a map from field path to :class:`~sim.errors.Mark`. Merging
and patching carry the marks along, so a path always points at the file that last set it.

Paths are tuples such as ``("sites", 3, "lab")``. The dotted form used on the command line and in
variants, ``sites[ks].go_live``, may select list items by index or by their ``id`` field.

Scenario files travel by e-mail and are edited by hand, so reading one is bounded: a few hundred
bytes of nested aliases would otherwise expand into gigabytes. :data:`LIMITS` caps the file
size, the nesting depth, the nodes written and the nodes constructed once aliases are expanded;
the YAML events are counted before anything is built, and the first limit crossed stops the
read with a located error (documented in ``docs/scenarios.md``, "Limits").
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sim.scenario.errors import Diagnostic, Mark, MissingInputError, ScenarioError, format_path

PathT = tuple[str | int, ...]

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Limits:
    """What one YAML file may hold; each limit is far above any real scenario (the largest
    shipped file is 15 kB, 1,226 nodes, 5 levels deep)."""

    file_bytes: int = 2 * 2**20  # the file as stored
    depth: int = 32  # nested mappings and lists, counting those reached through aliases
    nodes: int = 50_000  # scalars, mappings, lists and aliases as written
    constructed: int = 100_000  # nodes of the data once every alias is expanded


LIMITS = Limits()


def _limit_error(what: str, limit: str, mark: Mark) -> ScenarioError:
    value = getattr(LIMITS, limit)
    shown = f"{value / 2**20:g} MiB" if limit == "file_bytes" else f"{value:,}"
    return ScenarioError(
        [Diagnostic(f"{what}: over the limit {limit} = {shown} (see docs/scenarios.md)", mark)]
    )


@dataclass
class Doc:
    """Data with the source position of every mapping key and list item."""

    data: Any
    marks: dict[PathT, Mark] = field(default_factory=dict)

    def mark(self, path: PathT) -> Mark | None:
        """The position of ``path`` or of its nearest located ancestor."""
        for n in range(len(path), -1, -1):
            if (m := self.marks.get(tuple(path[:n]))) is not None:
                return m
        return None


def read_text(path: Path) -> str:
    """Read a scenario file as UTF-8 text, turning OS problems into located diagnostics."""
    name = str(path)
    if not path.exists():
        raise MissingInputError([Diagnostic(f"no such file: {name}", Mark(name, 1, 1))])
    if path.is_dir():
        raise MissingInputError(
            [Diagnostic(f"{name} is a directory, not a scenario file", Mark(name, 1, 1))]
        )
    try:
        size = path.stat().st_size
        if size > LIMITS.file_bytes:
            raise _limit_error(f"file is {size:,} bytes", "file_bytes", Mark(name, 1, 1))
        with path.open("rb") as fh:  # st_size is 0 for pipes and the like: read one past
            raw = fh.read(LIMITS.file_bytes + 1)
        if len(raw) > LIMITS.file_bytes:
            raise _limit_error("file is larger", "file_bytes", Mark(name, 1, 1))
    except OSError as exc:
        msg = f"cannot read: {exc.strerror}"
        raise MissingInputError([Diagnostic(msg, Mark(name, 1, 1))]) from None
    if b"\x00" in raw:
        raise ScenarioError([Diagnostic("binary data, not a YAML text file", Mark(name, 1, 1))])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ScenarioError(
            [Diagnostic(f"not UTF-8 text (byte {exc.start})", Mark(name, line, 1))]
        ) from None


def parse(text: str, name: str) -> Doc:
    """Parse one YAML document, recording marks; duplicate keys are errors.

    The text is first checked against :data:`LIMITS` event by event, so nothing is composed
    or built from a document that would be too large once its aliases are expanded."""
    try:
        check_limits(text, name)
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        pm = exc.problem_mark or exc.context_mark
        mark = Mark(name, pm.line + 1, pm.column + 1) if pm else Mark(name, 1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise ScenarioError([Diagnostic(f"invalid YAML: {problem}", mark)]) from None
    except yaml.YAMLError as exc:  # reader errors: control characters and the like
        raise ScenarioError([Diagnostic(f"invalid YAML: {exc}", Mark(name, 1, 1))]) from None
    if node is None:
        raise ScenarioError([Diagnostic("empty file: expected a YAML mapping", Mark(name, 1, 1))])
    doc = Doc(None)
    errors: list[Diagnostic] = []
    doc.data = _build(node, (), name, doc.marks, errors, yaml.constructor.SafeConstructor())
    doc.marks[()] = Mark(name, node.start_mark.line + 1, node.start_mark.column + 1)
    if errors:
        raise ScenarioError(errors)
    return doc


def check_limits(text: str, name: str) -> None:
    """Raise :class:`ScenarioError` at the first node that crosses one of :data:`LIMITS`.

    Streams the parser's events, keeping per open collection its constructed size and height,
    and per anchor the size and height of its node, so that an alias costs what its
    expansion would. Memory and time stay proportional to the limits, not to the expansion.
    YAML syntax errors surface here as :class:`yaml.YAMLError` (reported by :func:`parse`).
    """
    if len(text) > LIMITS.file_bytes:
        raise _limit_error(f"text is {len(text):,} characters", "file_bytes", Mark(name, 1, 1))
    stack: list[list] = []  # per open collection: [constructed size, height, anchor]
    anchors: dict[str, tuple[int, int]] = {}  # anchor -> (constructed size, height)
    nodes = constructed = 0
    for ev in yaml.parse(text, Loader=_Loader):
        if not isinstance(ev, yaml.NodeEvent | yaml.CollectionEndEvent):
            continue
        m = ev.start_mark
        mark = Mark(name, m.line + 1, m.column + 1)
        if isinstance(ev, yaml.CollectionEndEvent):
            size, height, anchor = stack.pop()
            if anchor is not None:
                anchors[anchor] = (size, height)
            _add(stack, size, height)
            continue
        nodes += 1
        if nodes > LIMITS.nodes:
            raise _limit_error("too many nodes", "nodes", mark)
        if isinstance(ev, yaml.AliasEvent):
            if any(entry[2] == ev.anchor for entry in stack):
                raise ScenarioError(
                    [Diagnostic(f"alias *{ev.anchor} refers to a node that contains it", mark)]
                )
            size, height = anchors.get(ev.anchor, (1, 1))  # undefined: the composer says so
        elif isinstance(ev, yaml.CollectionStartEvent):
            size, height = 1, 1
        else:
            size, height = 1, 0
        if len(stack) + height > LIMITS.depth:
            raise _limit_error("nested too deeply", "depth", mark)
        constructed += size
        if constructed > LIMITS.constructed:
            what = f"alias *{ev.anchor} expands" if isinstance(ev, yaml.AliasEvent) else "data"
            raise _limit_error(f"{what} too large", "constructed", mark)
        if isinstance(ev, yaml.CollectionStartEvent):
            stack.append([1, 1, ev.anchor])
            continue
        if isinstance(ev, yaml.ScalarEvent) and ev.anchor is not None:
            anchors[ev.anchor] = (1, 0)
        _add(stack, size, height)


def _add(stack: list[list], size: int, height: int) -> None:
    """Count a finished child in its parent collection."""
    if stack:
        stack[-1][0] += size
        stack[-1][1] = max(stack[-1][1], height + 1)


def _build(node, path, name, marks, errors, ctor) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = ctor.construct_object(key_node, deep=True)
            kmark = Mark(name, key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key == "<<":
                errors.append(Diagnostic("YAML merge keys (<<) are not supported", kmark))
                continue
            if not isinstance(key, str | int):
                errors.append(Diagnostic(f"mapping key must be text, got {key!r}", kmark))
                continue
            key = str(key)
            if key in out:
                errors.append(Diagnostic("duplicate key", kmark, _fmt((*path, key))))
                continue
            marks[(*path, key)] = kmark
            out[key] = _build(value_node, (*path, key), name, marks, errors, ctor)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            marks[(*path, i)] = Mark(name, item.start_mark.line + 1, item.start_mark.column + 1)
            items.append(_build(item, (*path, i), name, marks, errors, ctor))
        return items
    try:
        return ctor.construct_object(node, deep=True)
    except (yaml.constructor.ConstructorError, ValueError) as exc:
        m = node.start_mark
        problem = getattr(exc, "problem", None) or str(exc)
        errors.append(
            Diagnostic(
                f"cannot read {node.value!r}: {problem}",
                Mark(name, m.line + 1, m.column + 1),
                _fmt(path),
            )
        )
        return None


def _fmt(path: PathT) -> str:
    return format_path(path)


# ---------------------------------------------------------------- merging and patching


def merge(base: Doc, over: Doc, at: PathT = ()) -> Doc:
    """Deep-merge ``over`` into ``base`` at ``at``: maps merge, lists and scalars replace."""
    data = copy.deepcopy(base.data)
    marks = dict(base.marks)
    replaced: list[PathT] = []

    def walk(target: Any, value: Any, path: PathT) -> Any:
        if isinstance(target, dict) and isinstance(value, dict):
            for k, v in value.items():
                target[k] = walk(target.get(k), v, (*path, k))
            return target
        replaced.append(path)
        return copy.deepcopy(value)

    if at:
        parent = _container(data, at[:-1])
        key = at[-1]
        current = parent[key] if _has(parent, key) else None
        parent[key] = walk(current, over.data, at)
    else:
        data = walk(data, over.data, ())
    if replaced:
        cut = set(replaced)
        marks = {p: m for p, m in marks.items() if not _strictly_under(p, cut)}
    for p, m in over.marks.items():
        marks[at + p] = m
    return Doc(data, marks)


def _strictly_under(path: PathT, cut: set[PathT]) -> bool:
    return any(path[:n] in cut for n in range(len(path)))


def _has(container: Any, key: str | int) -> bool:
    if isinstance(container, dict):
        return key in container
    return isinstance(container, list) and isinstance(key, int) and 0 <= key < len(container)


def _container(data: Any, path: PathT) -> Any:
    """The container at ``path``, creating missing mappings on the way (``--set a.b.c=1``
    where ``a.b`` is not written in the file)."""
    cur = data
    for key in path:
        if isinstance(cur, dict) and not isinstance(cur.get(key), dict | list):
            cur[key] = {} if cur.get(key) is None else cur[key]
        cur = cur[key]
    return cur


_SEGMENT = re.compile(r"([^.\[\]]+)((?:\[[^\]]+\])*)")


def resolve_dotted(data: Any, dotted: str) -> PathT:
    """Turn ``sites[ks].go_live`` into a concrete path in ``data``.

    A bracket holds a list index or the ``id`` of a list item. Raises ``KeyError`` with a
    plain message when a selector matches nothing; a missing final key is allowed (it is
    being created).
    """
    path: list[str | int] = []
    cur = data
    parts = dotted.split(".")
    for n, part in enumerate(parts):
        m = _SEGMENT.fullmatch(part)
        if not m:
            raise KeyError(f"cannot read path segment {part!r} in {dotted!r}")
        key = m.group(1)
        path.append(key)
        last = n == len(parts) - 1 and not m.group(2)
        if isinstance(cur, dict) and key in cur:
            cur = cur[key]
        elif last:
            cur = None
        elif isinstance(cur, dict):
            cur = {}
        else:
            raise KeyError(f"{_fmt(tuple(path[:-1]))} is not a mapping")
        for sel in re.findall(r"\[([^\]]+)\]", m.group(2)):
            if not isinstance(cur, list):
                raise KeyError(f"{_fmt(tuple(path))} is not a list")
            idx = _select(cur, sel)
            if idx is None:
                ids = [str(item.get("id")) for item in cur if isinstance(item, dict)]
                raise KeyError(f"{_fmt(tuple(path))} has no item {sel!r}; known: {', '.join(ids)}")
            path.append(idx)
            cur = cur[idx]
    return tuple(path)


def _select(items: list, sel: str) -> int | None:
    for i, item in enumerate(items):
        if isinstance(item, dict) and str(item.get("id")) == sel:
            return i
    if sel.lstrip("-").isdigit() and -len(items) <= int(sel) < len(items):
        return int(sel) % len(items)
    return None


def parse_scalar(text: str) -> Any:
    """Read a ``--set`` value the way YAML would (numbers, dates, booleans, lists); bounded
    by :data:`LIMITS` like a file (a :class:`ScenarioError` located at ``--set``)."""
    try:
        check_limits(text, "--set")
        return yaml.load(text, Loader=_Loader) if text.strip() else ""
    except yaml.YAMLError:
        return text
