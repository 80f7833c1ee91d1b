"""Name resolution: which services may answer a model name, under which name, best first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from .._naming import close_names, names_match, split_service_prefix
from ..errors import ModelNotFoundError, ServiceUnavailableError
from ..types import ModelInfo
from .state import SEVERITY, ServiceState, Target, replica_id

__all__ = ["NO_SERVER_HINT", "Names"]


class Names:
    """Resolves model names and alias targets against the services' cached lists.

    ``states`` is the router's list of services (shared: services added to it later
    are seen); their configured order breaks ties.
    """

    def __init__(self, states: list[ServiceState]) -> None:
        self.states = states

    def pool(self, model: str) -> tuple[list[ServiceState], str]:
        """The services that may answer ``model`` and the name to ask them for: those a
        ``service/`` prefix names (by name, else by kind), or every service.
        """
        if "/" not in model:  # the usual case: a bare name
            return self.states, model
        names = [s.name for s in self.states]
        kinds = [s.provider.kind for s in self.states]
        prefix, rest = split_service_prefix(model, [*names, *kinds])
        if prefix is None:
            return self.states, model
        named = [s for s in self.states if s.name == prefix]
        if not named:
            named = [s for s in self.states if s.provider.kind == prefix]
        return named, rest

    def targets(self, model: str, *, require_listed: bool = False) -> list[Target]:
        """The services that can answer ``model``, best first.

        With one possible service, it is used without consulting lists (its server
        reports a missing model itself). Otherwise the cached lists decide: loaded
        before not loaded, healthy before degraded, then the fewest requests in flight,
        then configured order.
        """
        pool, name = self.pool(model)
        if not pool:
            raise ServiceUnavailableError(
                "No model servers are configured or running.", hint=NO_SERVER_HINT
            )
        if len(pool) == 1 and not require_listed:
            state = pool[0]
            info = self.find(state, name)
            return [Target(state, info.name if info else name, info)]
        found: list[Target] = []
        for state in pool:
            info = self.find(state, name)
            if info is not None:
                found.append(Target(state, info.name, info))
        if not found:
            raise self.not_found(name, pool)
        return self.ranked(found)

    def ranked(self, found: Sequence[Target]) -> list[Target]:
        """Replicas best first: loaded before not loaded, healthy before degraded, then
        the fewest requests in flight, then configured order (the sort is stable).
        """
        order = {id(s): i for i, s in enumerate(self.states)}
        return sorted(
            found,
            key=lambda t: (
                0 if (t.info and t.info.loaded) else 1,
                SEVERITY[t.state.status],
                t.state.in_flight,
                order[id(t.state)],
            ),
        )

    def replicas(self, ids: Sequence[str], *, listed_only: bool = False) -> list[Target]:
        """The targets the model ids of an alias reach, in the alias's order (rank them
        with :meth:`ranked`): each id as :meth:`pool` reads it; a bare name on every
        service whose list has it. An id naming one service whose list is not known yet
        is kept (its server reports a missing model itself, and failover moves on),
        unless ``listed_only``.
        """
        found: dict[tuple[int, str], Target] = {}
        for model in ids:
            pool, name = self.pool(model)
            for state in pool:
                info = self.find(state, name)
                if info is None and (listed_only or len(pool) > 1 or state.models is not None):
                    continue
                target = Target(state, info.name if info else name, info)
                found.setdefault((id(state), target.model), target)
        return list(found.values())

    def alias_not_found(self, alias: str, ids: Sequence[str]) -> ModelNotFoundError:
        """No service has any model ``alias`` stands for."""
        pools = [s for model in ids for s in self.pool(model)[0]]
        known = [m.name for s in dict.fromkeys(pools) for m in (s.models or ())]
        return ModelNotFoundError(
            f"No service has a model the alias {alias!r} stands for ({', '.join(ids)}).",
            model=alias,
            suggestions=close_names(self.pool(ids[0])[1], known) if ids else [],
            hint="Check the alias's targets in the configuration file against `modelport models`.",
        )

    def alias_model(self, alias: str, ids: Sequence[str]) -> ModelInfo | None:
        """An alias as a model list shows it: its best listed replica's facts under the
        alias's name, loaded when any replica is, with :attr:`ModelInfo.alias_of`; or
        ``None`` when no list has any of its models.
        """
        replicas = self.replicas(ids, listed_only=True)
        if not replicas:
            return None
        best = self.ranked(replicas)[0].info
        assert best is not None  # listed_only: every replica has its listing
        return replace(
            best,
            id=alias,
            name=alias,
            loaded=any(t.info.loaded for t in replicas if t.info) or best.loaded,
            alias_of=tuple(replica_id(t) for t in replicas),
        )

    def find(self, state: ServiceState, name: str) -> ModelInfo | None:
        """The model ``name`` in the service's cached list, if it is there."""
        models = state.models
        if not models:
            return None
        ollama = state.provider.kind == "ollama"
        for info in models:
            if names_match(name, info.name, ollama=ollama):
                return info
        for info in models:  # llama.cpp serves a file path; accept its file name
            aliases = info.details.get("aliases") if info.details else None
            stem = info.name.rsplit("/", 1)[-1]
            if stem.lower() in (name.lower(), f"{name.lower()}.gguf") or (
                isinstance(aliases, list) and name in aliases
            ):
                return info
        return None

    def not_found(self, name: str, pool: Sequence[ServiceState]) -> ModelNotFoundError:
        """No service in ``pool`` lists ``name``: the error, with close names."""
        known = [m.name for s in pool for m in (s.models or ())]
        listed = [s.name for s in pool if s.models is not None]
        where = ", ".join(listed) if listed else "any reachable service"
        return ModelNotFoundError(
            f"No service has a model named {name!r} (looked in {where}).",
            model=name,
            suggestions=close_names(name, known),
            hint="See every model with `modelport models`.",
        )


NO_SERVER_HINT = (
    "Start one: `ollama serve`, LM Studio's server (`lms server start`), or "
    "`llama-server -m MODEL.gguf --jinja`; or name a server: services=[...] in code, "
    "--service URL on the command line, or MODELPORT_SERVICES."
)
