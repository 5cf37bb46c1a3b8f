"""A scenario as one replication runs it when parameter uncertainty is on.

With ``inputs.uncertainty: true`` every replication runs on its own drawn library
(:func:`sim.sampling.uncertainty.draw_library`), and the scenario numbers that name a library
distribution ("sourced numbers", :func:`sim.scenario.loading.resolve_sourced`) take the mean
of the *drawn* distribution, so that a number and the distribution it rests on move together.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from sim.sampling.distributions import DistributionSpec
from sim.sampling.uncertainty import draw_library
from sim.scenario.errors import Diagnostic, ScenarioError, format_path
from sim.scenario.loading import LoadedScenario
from sim.scenario.schema import SourcedIn
from sim.scenario.yamlio import PathT


def for_replication(sc: LoadedScenario, replication: int, root_seed: int) -> LoadedScenario:
    """The scenario replication ``replication`` runs on: ``sc`` itself when uncertainty is
    off, else a copy with a drawn library and its sourced numbers following it."""
    if not sc.model.input_uncertainty:
        return sc
    return with_library(sc, draw_library(sc.library, root_seed, replication))


def with_library(sc: LoadedScenario, library: dict[str, DistributionSpec]) -> LoadedScenario:
    """A copy of ``sc`` on another library (same names), its sourced numbers re-resolved to
    the new distributions' means; raises :class:`ScenarioError` if a mean breaks a bound."""
    model = sc.model.model_copy(deep=True)
    errors: list[Diagnostic] = []

    def visit(obj: Any, path: PathT) -> None:
        if isinstance(obj, BaseModel):
            for name, info in type(obj).model_fields.items():
                where = (*path, name)
                ref = sc.sources.get(format_path(where))
                marked = any(isinstance(m, SourcedIn) for m in info.metadata)
                if marked and ref is not None:
                    number = typing.get_args(info.annotation)[0]
                    try:
                        value = TypeAdapter(number).validate_python(float(library[ref].mean))
                    except ValidationError as exc:
                        msg = f"the drawn mean of {ref!r}: {exc.errors()[0]['msg']}"
                        errors.append(Diagnostic(msg, None, format_path(where)))
                        continue
                    setattr(obj, name, value)
                else:
                    visit(getattr(obj, name), where)
        elif isinstance(obj, list):
            for i, item in enumerate(obj):
                visit(item, (*path, i))
        elif isinstance(obj, dict):
            for key, item in obj.items():
                visit(item, (*path, key))

    visit(model, ())
    if errors:
        raise ScenarioError(errors)
    return dataclasses.replace(sc, model=model, library=dict(library))
