"""Display labels of variants: short enough for a legend, a column head and a title.

A sweep names its variants after every field it sets (``coexistence_window_days=14,
health_centre=0``), which is exact but too long for a chart legend, a terminal column or a
report heading. Every chart, table and report therefore shows a variant by its label: its
own name when that is short, otherwise a short label built from what varies across the run
(``cwd=14 · hc=0``, the initials of each field), or ``V1``, ``V2``, ... when even that is too
long. A legend table (:func:`legend`) maps each label back to the full name and the fields
it sets, so nothing is lost.
"""

from __future__ import annotations

import re
from typing import Any

MAX_NAME = 18  # characters: a variant name up to this long is its own label
MAX_LABEL = 24  # a generated label may be a little longer (it is shown wrapped in tables)
_PAIR = re.compile(r"^([^=,\s]+)=([^,]*)$")


def _pairs(name: str) -> list[tuple[str, str]] | None:
    """``[sweep:]a=1,b=2`` as [(a, 1), (b, 2)], or None when the name is not of that form."""
    body = name.removeprefix("sweep:")
    out = []
    for part in body.split(","):
        m = _PAIR.match(part.strip())
        if not m:
            return None
        out.append((m.group(1), m.group(2)))
    return out


def _short_key(key: str) -> str:
    """A field's initials (``coexistence_window_days`` -> ``cwd``); one word stays whole."""
    words = [w for w in re.split(r"[_.\-\s]+", key.split(".")[-1]) if w]
    return "".join(w[0] for w in words) if len(words) > 1 else key.split(".")[-1]


def variant_labels(variants: list[str]) -> dict[str, str]:
    """Each variant's display label, unique within the run, in the given order."""
    if all(len(v) <= MAX_NAME for v in variants):
        return {v: v for v in variants}
    parsed = {v: _pairs(v) for v in variants}
    labels: dict[str, str] = {}
    if all(p is not None for p in parsed.values()):
        values: dict[str, set[str]] = {}
        for pairs in parsed.values():
            for k, val in pairs or []:
                values.setdefault(k, set()).add(val)
        varying = {k for k, vals in values.items() if len(vals) > 1} or set(values)
        for v, pairs in parsed.items():
            shown = [f"{_short_key(k)}={val}" for k, val in pairs or [] if k in varying]
            labels[v] = v if len(v) <= MAX_NAME else " · ".join(shown)
    else:
        labels = {v: v for v in variants}
    texts = list(labels.values())
    if len(set(texts)) == len(texts) and all(len(t) <= MAX_LABEL for t in texts):
        return labels
    width = len(str(len(variants)))
    return {v: v if len(v) <= MAX_NAME else f"V{i:0{width}d}" for i, v in enumerate(variants, 1)}


def run_labels(manifest: dict[str, Any]) -> dict[str, str]:
    """The labels of a run's variants (from its manifest, so every view agrees)."""
    return variant_labels(list(manifest.get("variants", [])))


def legend(manifest: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(label, full variant name, what it sets or its description) per variant of a run."""
    labels = run_labels(manifest)
    plan = {v["name"]: v for v in manifest.get("plan", {}).get("variants", [])}
    descriptions = manifest.get("variant_descriptions", {})
    out = []
    for name, label in labels.items():
        sets = ", ".join(plan.get(name, {}).get("overrides", ()))
        out.append((label, name, sets or descriptions.get(name, "")))
    return out


def needs_legend(manifest: dict[str, Any]) -> bool:
    """Whether some label differs from its variant's name (then show :func:`legend`)."""
    return any(label != name for name, label in run_labels(manifest).items())
