"""Loading a scenario: files, ``extends:``, variants, ``--set``, validation and dates.

The pipeline is the same for every caller (CLI, tests, notebooks)::

    file --extends--> merged doc --variant--> --set--> pydantic --refs--> dates --> checks

Each stage collects located diagnostics; anything wrong stops the load with one
:class:`~sim.errors.ScenarioError` listing all of them, so nothing runs on a bad scenario.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import itertools
import json
import os
import re
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from sim import extensions as ext
from sim.sampling.distributions import DISTRIBUTION_ADAPTER, FAMILIES, DistributionSpec
from sim.scenario.dates import DateCycleError, DateResolver, DateRule, parse_rule
from sim.scenario.errors import Diagnostic, ExitCode, Mark, ScenarioError, format_path
from sim.scenario.schema import INPUT_ROLES, Scenario, SourcedIn
from sim.scenario.yamlio import Doc, PathT, merge, parse, parse_scalar, read_text, resolve_dotted

RESERVED_VARIANT_KEYS = ("description",)


class UsageError(ScenarioError):
    """A request that does not fit the scenario, such as an unknown variant (exit 2)."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class SiteDates:
    """A site's planned dates, its date rules evaluated; events are applied by the schedule
    (:mod:`sim.schedule.schedule`)."""

    go_live: dt.date
    ros_switch: dt.date
    lab_switch: dt.date


@dataclass
class LoadedScenario:
    """A validated scenario with its resolved dates and its distribution library."""

    model: Scenario
    doc: Doc
    path: Path
    variant: str | None
    library: dict[str, DistributionSpec]
    site_dates: dict[str, SiteDates]
    lab_dates: dict[str, dt.date]
    warnings: list[Diagnostic] = field(default_factory=list)
    # Numbers the scenario took from a library distribution: field path -> distribution name.
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.model.name}[{self.variant}]" if self.variant else self.model.name

    def resolved_data(self) -> dict[str, Any]:
        """The scenario as plain data after extends, variant and overrides."""
        data = self.model.model_dump(mode="json", exclude={"extends"})
        data.pop("variants", None)
        data.pop("sweep", None)
        return data

    def digest(self) -> str:
        """Stable hash of the resolved scenario and the distributions it uses."""
        blob = {
            "scenario": self.resolved_data(),
            "library": {k: v.model_dump(mode="json") for k, v in sorted(self.library.items())},
        }
        text = json.dumps(blob, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


# ------------------------------------------------------------------------------ files


SCENARIO_PATH_ENV = "CUTOVER_SCENARIO_PATH"  # folders, separated by os.pathsep


def bundled_scenarios() -> Path:
    """The scenarios that come with cutover: ``sim/data/scenarios`` in an installed wheel,
    the repository's ``scenarios/`` in a source checkout or an editable install."""
    package = Path(__file__).resolve().parents[1]
    candidates = (package / "data" / "scenarios", package.parent / "scenarios")
    return next((c for c in candidates if c.is_dir()), candidates[0])


def scenario_search_path() -> list[Path]:
    """Where ``extends:`` looks after the extending file's own folder: the folders in
    ``CUTOVER_SCENARIO_PATH``, then the bundled scenarios (so a copied scenario still finds
    ``common/vgr.yaml``)."""
    extra = [Path(p) for p in os.environ.get(SCENARIO_PATH_ENV, "").split(os.pathsep) if p]
    return [*extra, bundled_scenarios()]


def find_base(path: Path, base: str) -> tuple[Path, list[Path]]:
    """The file an ``extends: base`` in ``path`` names, and the folders searched for it."""
    folders = [path.parent, *scenario_search_path()]
    for folder in folders:
        if (folder / base).is_file():
            return folder / base, folders
    return path.parent / base, folders


def load_doc(path: Path, _stack: tuple[Path, ...] = ()) -> Doc:
    """Read a scenario file and everything it ``extends``, merged (maps merge, lists replace)."""
    real = path.resolve()
    doc = parse(read_text(path), str(path))
    if not isinstance(doc.data, dict):
        raise ScenarioError(
            [Diagnostic("expected a mapping of scenario fields at the top", Mark(str(path), 1, 1))]
        )
    bases = doc.data.get("extends")
    if bases is None:
        return doc
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ScenarioError(
            [
                Diagnostic(
                    "expected a file name or a list of them", doc.mark(("extends",)), "extends"
                )
            ]
        )
    merged: Doc | None = None
    for base in bases:
        base_path, searched = find_base(path, base)
        if base_path.resolve() in (*_stack, real):
            chain = " -> ".join(p.name for p in (*_stack, real, base_path.resolve()))
            raise ScenarioError(
                [Diagnostic(f"extends cycle: {chain}", doc.mark(("extends",)), "extends")]
            )
        if not base_path.is_file():
            where = ", ".join(str(p) for p in searched)
            raise ScenarioError(
                [
                    Diagnostic(
                        f"base file not found: {base!r} (looked in: {where}; add folders to "
                        f"{SCENARIO_PATH_ENV})",
                        doc.mark(("extends",)),
                        "extends",
                    )
                ]
            )
        base_doc = load_doc(base_path, (*_stack, real))
        merged = base_doc if merged is None else merge(merged, base_doc)
    assert merged is not None
    out = merge(merged, doc)
    out.data.pop("extends", None)
    return out


# --------------------------------------------------------------------- variants & sets


def variant_patches(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Declared variants plus those generated by the ``sweep:`` block."""
    declared = data.get("variants") or {}
    patches = dict(declared) if isinstance(declared, dict) else {}
    sweep = data.get("sweep")
    if isinstance(sweep, dict):
        patches.update(expand_sweep(sweep.get("grid") or {}, sweep.get("zip") or {}))
    return patches


def expand_sweep(grid: dict[str, list], zipped: dict[str, list]) -> dict[str, dict[str, Any]]:
    """Every combination of the grid, crossed with each position of the zipped lists."""
    grid_items = [[(k, v) for v in vals] for k, vals in grid.items() if isinstance(vals, list)]
    zip_lists = [v for v in zipped.values() if isinstance(v, list)]
    zip_rows = (
        [list(zip(zipped, row, strict=False)) for row in zip(*zip_lists, strict=False)]
        if zip_lists
        else [[]]
    )
    out: dict[str, dict[str, Any]] = {}
    for combo in itertools.product(*grid_items) if grid_items else [()]:
        for row in zip_rows:
            pairs = list(combo) + row
            if not pairs:
                continue
            name = "sweep:" + ",".join(f"{k.split('.')[-1]}={v}" for k, v in pairs)
            out[name] = {k: v for k, v in pairs} | {"description": name}
    return out


def _apply_patch(doc: Doc, patch: dict[str, Any], origin: PathT, errors: list) -> Doc:
    for key, value in patch.items():
        if key in RESERVED_VARIANT_KEYS:
            continue
        mark = doc.mark((*origin, key))
        try:
            path = resolve_dotted(doc.data, key)
        except KeyError as exc:
            errors.append(Diagnostic(str(exc.args[0]), mark, format_path((*origin, key))))
            continue
        sub = {
            p[len(origin) + 1 :]: m
            for p, m in doc.marks.items()
            if p[: len(origin) + 1] == (*origin, key)
        }
        over = Doc(value, sub | {(): mark} if mark else sub)
        doc = merge(doc, over, path)
    return doc


BASE_VARIANT = "base"  # the scenario as written, runnable beside its declared variants


def apply_variant(doc: Doc, variant: str | None) -> Doc:
    if not variant or (variant == BASE_VARIANT and variant not in _declared(doc.data)):
        return doc
    patches = variant_patches(doc.data)
    if variant not in patches:
        known = ", ".join([BASE_VARIANT, *patches])
        hint = _did_you_mean(variant, patches) + _window_hint(variant)
        raise UsageError([Diagnostic(f"unknown variant {variant!r}{hint}; known: {known}")])
    patch = patches[variant]
    if not isinstance(patch, dict):
        mark = doc.mark(("variants", variant))
        raise ScenarioError([Diagnostic("a variant is a mapping of field paths to values", mark)])
    errors: list[Diagnostic] = []
    origin: PathT = ("variants", variant)
    if variant not in (doc.data.get("variants") or {}):
        origin = ("sweep",)
    doc = _apply_patch(doc, patch, origin, errors)
    if errors:
        raise ScenarioError(errors)
    return doc


def apply_overrides(doc: Doc, overrides: Sequence[str]) -> Doc:
    """Apply ``dotted.path=value`` overrides (``--set``), each located as ``--set:N``."""
    errors: list[Diagnostic] = []
    for n, item in enumerate(overrides, start=1):
        mark = Mark("--set", 1, n)
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            errors.append(Diagnostic(f"expected path=value, got {item!r}", mark))
            continue
        try:
            path = resolve_dotted(doc.data, key.strip())
        except KeyError as exc:
            errors.append(Diagnostic(str(exc.args[0]), mark, key.strip()))
            continue
        doc = merge(doc, Doc(parse_scalar(raw), {(): mark}), path)
    if errors:
        raise ScenarioError(errors)
    return doc


# ------------------------------------------------------------------------- validation


def _declared(data: dict[str, Any]) -> dict[str, Any]:
    declared = data.get("variants")
    return declared if isinstance(declared, dict) else {}


def _window_hint(variant: str) -> str:
    """For a name like ``window-3w`` or ``window-10d``: the ``--set`` that runs that window."""
    m = re.fullmatch(r"window-(\d+)\s*([wd])", variant.strip().lower())
    if not m:
        return ""
    days = int(m.group(1)) * (7 if m.group(2) == "w" else 1)
    return f" (or run that window directly: --set policies.coexistence_window_days={days})"


def _did_you_mean(word: str, known: Iterable[str]) -> str:
    match = difflib.get_close_matches(str(word), [str(k) for k in known], n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _unwrap(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for a in typing.get_args(tp) for t in _unwrap(a)]
    return [tp]


def _fields_at(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """Field names allowed at ``loc`` (for "did you mean" on unknown keys)."""
    candidates: list[Any] = [model]
    for part in loc:
        nxt: list[Any] = []
        for tp in candidates:
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                f = tp.model_fields.get(str(part))
                if f is not None:
                    nxt.extend(_unwrap(f.annotation))
            elif typing.get_origin(tp) is list and isinstance(part, int):
                nxt.extend(_unwrap(typing.get_args(tp)[0]))
            elif typing.get_origin(tp) is dict:
                nxt.extend(_unwrap(typing.get_args(tp)[1]))
        candidates = nxt
    for tp in candidates:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return list(tp.model_fields)
    return []


def _data_path(data: Any, loc: Sequence[str | int]) -> PathT:
    """The prefix of a pydantic ``loc`` that exists in the data (drops union member tags)."""
    out: list[str | int] = []
    cur = data
    for part in loc:
        in_dict = isinstance(cur, dict) and part in cur
        in_list = isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur)
        if in_dict or in_list:
            cur = cur[part]
        else:
            if isinstance(cur, dict) and isinstance(part, str) and out[-1:] != [part]:
                out.append(part)  # a missing required field: name it
            break
        out.append(part)
    return tuple(out)


def pydantic_diagnostics(
    exc: ValidationError, doc: Doc, model: type[BaseModel]
) -> list[Diagnostic]:
    """Turn pydantic errors into located diagnostics, merging union alternatives."""
    grouped: dict[PathT, list[str]] = {}
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        if err["type"] == "extra_forbidden":
            path = tuple(loc)
            msg = f"unknown key {loc[-1]!r}" + _did_you_mean(
                str(loc[-1]), _fields_at(model, loc[:-1])
            )
        elif err["type"] == "missing":
            path = _data_path(doc.data, loc)
            msg = "required field is missing"
        else:
            path = _data_path(doc.data, loc)
            msg = err["msg"].removeprefix("Value error, ")
        if msg not in grouped.setdefault(path, []):
            grouped[path].append(msg)
    out = []
    for path, msgs in grouped.items():
        mark = doc.mark(path)
        out.append(Diagnostic(" or ".join(msgs), mark, format_path(path)))
    return out


def load_library(folder: Path, mark: Mark | None) -> tuple[dict[str, DistributionSpec], list]:
    """Read every ``*.yaml`` in the distribution library; names must be unique."""
    if not folder.is_dir():
        return {}, [
            Diagnostic(f"distribution library not found: {folder}", mark, "distribution_library")
        ]
    library: dict[str, DistributionSpec] = {}
    errors: list[Diagnostic] = []
    for file in sorted(folder.glob("*.yaml")):
        try:
            doc = parse(read_text(file), str(file))
        except ScenarioError as exc:
            errors.extend(exc.diagnostics)
            continue
        if not isinstance(doc.data, dict):
            errors.append(
                Diagnostic("expected a mapping of named distributions", Mark(str(file), 1, 1))
            )
            continue
        for name, spec in doc.data.items():
            if name in library:
                errors.append(Diagnostic(f"distribution {name!r} defined twice", doc.mark((name,))))
                continue
            try:
                library[name] = DISTRIBUTION_ADAPTER.validate_python(spec)
            except ValidationError as exc:
                sub = Doc(spec, {p[1:]: m for p, m in doc.marks.items() if p[:1] == (name,)})
                for d in _library_diagnostics(exc, sub):
                    errors.append(
                        Diagnostic(
                            d.message, d.mark or doc.mark((name,)), f"{name}.{d.field}".rstrip(".")
                        )
                    )
    return library, errors


def _library_diagnostics(exc: ValidationError, doc: Doc) -> list[Diagnostic]:
    out = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p in FAMILIES)]
        path = _data_path(doc.data, loc)
        out.append(
            Diagnostic(err["msg"].removeprefix("Value error, "), doc.mark(path), format_path(path))
        )
    return out


class Refs:
    """Collects reference errors with marks and suggestions."""

    def __init__(self, doc: Doc):
        self.doc = doc
        self.errors: list[Diagnostic] = []

    def check(self, value: str, known: Iterable[str], what: str, path: PathT) -> None:
        known = list(known)
        if value not in known:
            shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
            self.errors.append(
                Diagnostic(
                    f"unknown {what} {value!r}{_did_you_mean(value, known)}; known: {shown}",
                    self.doc.mark(path),
                    format_path(path),
                )
            )

    def unique(self, items: list, what: str, key: str) -> None:
        seen: set[str] = set()
        for i, item in enumerate(items):
            ident = item.id
            if ident in seen:
                path = (key, i, "id")
                self.errors.append(
                    Diagnostic(
                        f"duplicate {what} id {ident!r}", self.doc.mark(path), format_path(path)
                    )
                )
            seen.add(ident)


def check_references(s: Scenario, doc: Doc, library: dict[str, Any]) -> list[Diagnostic]:
    r = Refs(doc)
    r.unique(s.areas, "area", "areas")
    r.unique(s.labs, "lab", "labs")
    r.unique(s.sites, "site", "sites")
    r.unique(s.systems, "system", "systems")
    r.unique(s.test_categories, "test category", "test_categories")
    areas = [a.id for a in s.areas]
    labs = [lab.id for lab in s.labs]
    sites = [site.id for site in s.sites]
    systems = [sy.id for sy in s.systems]
    for i, lab in enumerate(s.labs):
        r.check(lab.area, areas, "area", ("labs", i, "area"))
        _check_rule_refs(r, lab.lis_switch, ("labs", i, "lis_switch"), labs, sites, owner="lab")
    for i, c in enumerate(s.test_categories):
        r.check(c.turnaround, library, "distribution", ("test_categories", i, "turnaround"))
    for kind_id, kind in s.site_kinds.items():
        for role, name in kind.inputs.items():
            r.check(role, INPUT_ROLES, "input role", ("site_kinds", kind_id, "inputs", role))
            r.check(name, library, "distribution", ("site_kinds", kind_id, "inputs", role))
    for i, site in enumerate(s.sites):
        base = ("sites", i)
        r.check(site.kind, s.site_kinds, "site kind", (*base, "kind"))
        r.check(site.area, areas, "area", (*base, "area"))
        r.check(site.lab, labs, "lab", (*base, "lab"))
        r.check(site.legacy_record, systems, "legacy system", (*base, "legacy_record"))
        r.check(site.legacy_client, systems, "legacy system", (*base, "legacy_client"))
        if isinstance(site.orders_per_day, str):
            r.check(site.orders_per_day, library, "distribution", (*base, "orders_per_day"))
        kind = s.site_kinds.get(site.kind)
        if site.records and kind is not None and kind.setting != "primary":
            r.errors.append(
                Diagnostic(
                    f"records only drive PAL relabelling, which primary care does; site kind "
                    f"{site.kind!r} is {kind.setting}",
                    doc.mark((*base, "records")),
                    format_path((*base, "records")),
                )
            )
        for fld in ("go_live", "ros_switch"):
            _check_rule_refs(r, getattr(site, fld), (*base, fld), labs, sites, owner="site")
    for i, ev in enumerate(s.events):
        for j, site_id in enumerate(ev.sites):
            r.check(site_id, sites, "site", ("events", i, "sites", j))
        for j, area_id in enumerate(ev.areas):
            r.check(area_id, areas, "area", ("events", i, "areas", j))
        if ev.system:
            r.check(ev.system, systems, "legacy system", ("events", i, "system"))
    for role, name in s.inputs.items():
        r.check(role, INPUT_ROLES, "input role", ("inputs", role))
        r.check(name, library, "distribution", ("inputs", role))
    for role in INPUT_ROLES:
        if role not in s.inputs:
            r.errors.append(
                Diagnostic(
                    f"input role {role!r} is not bound: {INPUT_ROLES[role]}",
                    doc.mark(("inputs",)),
                    "inputs",
                )
            )
    for kind_id in s.staffing.extra_signers:
        r.check(kind_id, s.site_kinds, "site kind", ("staffing", "extra_signers", kind_id))
    return r.errors + _check_extensions(s, doc)


def _check_extensions(s: Scenario, doc: Doc) -> list[Diagnostic]:
    """Extension names must be registered, and their parameters valid for them."""
    ext.load_plugins()
    r = Refs(doc)
    for i, ref in enumerate(s.workload_streams):
        path = ("workload_streams", i)
        stream = ext.WORKLOAD_STREAMS.get(ref.stream)
        if stream is None:
            r.check(ref.stream, ext.WORKLOAD_STREAMS, "workload stream", (*path, "stream"))
            continue
        params = _extension_params(stream.params, ref.params, doc, (*path, "params"), r)
        if params is not None and stream.check:
            for sub, message in stream.check(params, s):
                where = (*path, "params", *sub)
                r.errors.append(Diagnostic(message, doc.mark(where), format_path(where)))
    mode = s.policies.lock.mode
    path = ("policies", "lock")
    policy = ext.LOCK_POLICIES.get(mode)
    if policy is None:
        r.check(mode, ext.lock_modes(), "lock policy", (*path, "mode"))
    elif not policy.builtin:
        _extension_params(policy.params, s.policies.lock.params, doc, (*path, "params"), r)
    elif s.policies.lock.params:
        where = (*path, "params")
        r.errors.append(
            Diagnostic(
                f"the built-in lock policy {mode!r} takes no params (its fields sit beside mode)",
                doc.mark(where),
                format_path(where),
            )
        )
    return r.errors


def _extension_params(
    model: type[BaseModel], data: dict[str, Any], doc: Doc, at: PathT, r: Refs
) -> BaseModel | None:
    """Validate an extension's parameters, locating errors in the scenario file."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        marks = {p[len(at) :]: m for p, m in doc.marks.items() if p[: len(at)] == at}
        sub = Doc(data, marks)
        for d in pydantic_diagnostics(exc, sub, model):
            where = f"{format_path(at)}.{d.field}" if d.field else format_path(at)
            r.errors.append(Diagnostic(d.message, d.mark or doc.mark(at), where))
        return None


def _check_rule_refs(r: Refs, value: Any, path: PathT, labs, sites, owner: str) -> None:
    rule = parse_rule(value)
    if rule.anchor == "lab_switch" and rule.ref:
        r.check(rule.ref, labs, "lab", path)
    elif rule.anchor == "go_live" and rule.ref:
        r.check(rule.ref, sites, "site", path)
    elif owner == "lab" and rule.anchor is not None and not rule.ref:
        r.errors.append(
            Diagnostic(
                f"a lab's date rule must name whose date it follows, e.g. '{rule.anchor}[id]'",
                r.doc.mark(path),
                format_path(path),
            )
        )


def resolve_sourced(
    model: Scenario, doc: Doc, library: dict[str, DistributionSpec]
) -> tuple[dict[str, str], list[Diagnostic]]:
    """Replace every number given as a distribution's name by that distribution's mean, in
    place, checking the name, its unit and the field's bounds; returns where each came from.
    (Per replication draws from the same distributions are the uncertainty mechanism's job.)
    """
    sources: dict[str, str] = {}
    errors: list[Diagnostic] = []
    refs = Refs(doc)

    def visit(obj: Any, path: PathT) -> None:
        if isinstance(obj, BaseModel):
            for name, info in type(obj).model_fields.items():
                value = getattr(obj, name)
                marker = next((m for m in info.metadata if isinstance(m, SourcedIn)), None)
                if marker is not None and isinstance(value, str):
                    resolve(obj, name, info, marker.unit, value, (*path, name))
                else:
                    visit(value, (*path, name))
        elif isinstance(obj, list):
            for i, item in enumerate(obj):
                visit(item, (*path, i))
        elif isinstance(obj, dict):
            for key, item in obj.items():
                visit(item, (*path, key))

    def resolve(obj: BaseModel, name: str, info, unit: str, ref: str, path: PathT) -> None:
        where = format_path(path)
        if ref not in library:
            refs.check(ref, library, "distribution", path)
            return
        spec = library[ref]
        if spec.unit != unit:
            errors.append(
                Diagnostic(
                    f"distribution {ref!r} is in {spec.unit}, this field in {unit}",
                    doc.mark(path),
                    where,
                )
            )
            return
        number = typing.get_args(info.annotation)[0]
        try:
            setattr(obj, name, TypeAdapter(number).validate_python(float(spec.mean)))
        except ValidationError as exc:
            message = exc.errors()[0]["msg"]
            errors.append(Diagnostic(f"the mean of {ref!r}: {message}", doc.mark(path), where))
            return
        sources[where] = ref

    visit(model, ())
    return sources, refs.errors + errors


def resolve_dates(s: Scenario, doc: Doc) -> tuple[dict[str, SiteDates], dict[str, dt.date], list]:
    """Evaluate every date rule; cycles are reported at the field that closes them."""
    site_by_id = {site.id: site for site in s.sites}
    lab_by_id = {lab.id: lab for lab in s.labs}

    def lookup(key: tuple[str, str, str]) -> DateRule:
        kind, ident, fld = key
        if kind == "lab":
            return parse_rule(lab_by_id[ident].lis_switch)
        return parse_rule(getattr(site_by_id[ident], fld))

    def anchor_key(owner: tuple[str, str, str], rule: DateRule) -> tuple[str, str, str]:
        if rule.anchor == "lab_switch":
            lab = rule.ref or site_by_id[owner[1]].lab
            return ("lab", lab, "lis_switch")
        return ("site", rule.ref or owner[1], "go_live")

    resolver = DateResolver(lookup, anchor_key, s.policies.coexistence_window_days)
    errors: list[Diagnostic] = []
    lab_dates: dict[str, dt.date] = {}
    site_dates: dict[str, SiteDates] = {}
    for i, lab in enumerate(s.labs):
        try:
            lab_dates[lab.id] = resolver.resolve(("lab", lab.id, "lis_switch"))
        except DateCycleError as exc:
            errors.append(
                Diagnostic(str(exc), doc.mark(("labs", i, "lis_switch")), f"labs[{i}].lis_switch")
            )
    for i, site in enumerate(s.sites):
        try:
            go = resolver.resolve(("site", site.id, "go_live"))
            ros = resolver.resolve(("site", site.id, "ros_switch"))
        except DateCycleError as exc:
            errors.append(
                Diagnostic(str(exc), doc.mark(("sites", i, "go_live")), f"sites[{i}].go_live")
            )
            continue
        if site.lab in lab_dates:
            site_dates[site.id] = SiteDates(go, ros, lab_dates[site.lab])
    return site_dates, lab_dates, errors


def load_scenario(
    path: str | Path, variant: str | None = None, overrides: Sequence[str] = ()
) -> LoadedScenario:
    """Load, patch, validate and check a scenario; raise :class:`ScenarioError` on any error."""
    path = Path(path)
    doc = load_doc(path)
    doc = apply_variant(doc, variant)
    doc = apply_overrides(doc, overrides)
    return _finish(doc, path, variant)


def _finish(
    doc: Doc,
    path: Path,
    variant: str | None,
    library: dict[str, DistributionSpec] | None = None,
) -> LoadedScenario:
    """Validate a patched document, load its distributions (unless given), resolve dates
    and run the registered scenario checks (the schedule's, the KPI registry's, see
    :data:`sim.extensions.SCENARIO_CHECKS`): the stages every way of making a scenario shares."""
    try:
        model = Scenario.model_validate(doc.data)
    except ValidationError as exc:
        errors = pydantic_diagnostics(exc, doc, Scenario)
        errors.extend(_variant_key_errors(doc))
        raise ScenarioError(errors) from None
    _add_registered_site_kinds(model)
    errors = []
    if library is None:
        lib_mark = doc.marks.get(("distribution_library",))
        from_set = lib_mark and lib_mark.file != "--set"
        lib_base = Path(lib_mark.file).parent if from_set else path.parent
        library, errors = load_library(lib_base / model.distribution_library, lib_mark)
    errors += check_references(model, doc, library) if not errors else []
    errors += _variant_key_errors(doc)
    if errors:
        raise ScenarioError(errors)
    sources, errors = resolve_sourced(model, doc, library)
    if errors:
        raise ScenarioError(errors)
    site_dates, lab_dates, errors = resolve_dates(model, doc)
    if errors:
        raise ScenarioError(errors)
    loaded = LoadedScenario(model, doc, path, variant, library, site_dates, lab_dates)
    loaded.sources = sources
    ext.load_plugins()
    findings = [d for check in ext.SCENARIO_CHECKS.values() for d in check(loaded)]
    errors = [d for d in findings if d.severity == "error"]
    if errors:
        raise ScenarioError(errors)
    loaded.warnings = [d for d in findings if d.severity != "error"]
    return loaded


def _add_registered_site_kinds(model: Scenario) -> None:
    """Site kinds used by sites but defined only in :mod:`sim.extensions` join the scenario
    (so they are part of its resolved form and hash)."""
    from sim.scenario.schema import SiteKind

    ext.load_plugins()
    for site in model.sites:
        if site.kind not in model.site_kinds and site.kind in ext.SITE_KINDS:
            model.site_kinds[site.kind] = SiteKind.model_validate(ext.SITE_KINDS[site.kind])


def with_changes(sc: LoadedScenario, changes: dict[str, Any] | Sequence[str]) -> LoadedScenario:
    """A copy of a loaded scenario with fields changed by dotted path, checked like ``--set``.

    ``changes`` maps paths to values (``{"sites[ks].go_live": "2023-04-04"}``) or is a list
    of ``path=value`` strings. Dates that depend on a changed field follow, and any error
    raises :class:`ScenarioError` naming the path.
    """
    items = changes if not isinstance(changes, dict) else [
        f"{k}={v.isoformat() if isinstance(v, dt.date) else v}" for k, v in changes.items()
    ]  # fmt: skip
    doc = apply_overrides(sc.doc, items)
    return _finish(doc, sc.path, sc.variant, sc.library)


def from_model(model: Scenario, like: LoadedScenario) -> LoadedScenario:
    """A loaded scenario from a changed pydantic model (e.g. ``model.model_copy(update=...)``,
    which pydantic does not validate): validated, dated and checked again, with the
    distributions of ``like``."""
    data = model.model_dump(mode="json", exclude_none=True, exclude={"extends"})
    return _finish(Doc(data, {}), like.path, like.variant, like.library)


def _variant_key_errors(doc: Doc) -> list[Diagnostic]:
    """Every declared variant must patch paths that exist (checked without applying it)."""
    out = []
    variants = doc.data.get("variants") if isinstance(doc.data, dict) else None
    for name, patch in (variants or {}).items():
        if not isinstance(patch, dict):
            out.append(
                Diagnostic(
                    "a variant is a mapping of field paths to values",
                    doc.mark(("variants", name)),
                    f"variants.{name}",
                )
            )
            continue
        for key in patch:
            if key in RESERVED_VARIANT_KEYS:
                continue
            try:
                p = resolve_dotted(doc.data, key)
            except KeyError as exc:
                out.append(
                    Diagnostic(
                        str(exc.args[0]),
                        doc.mark(("variants", name, key)),
                        f"variants.{name}.{key}",
                    )
                )
                continue
            allowed = _fields_at(Scenario, p[:-1])
            if allowed and p[-1] not in allowed:
                out.append(
                    Diagnostic(
                        f"unknown key {p[-1]!r}{_did_you_mean(str(p[-1]), allowed)}",
                        doc.mark(("variants", name, key)),
                        f"variants.{name}.{key}",
                    )
                )
    return out
