"""Provides the litellm ``Router`` of a model alias served by several deployments (``[[models.NAME.deployments]]``
in ``workbench.toml``: several keys, regions or local servers of one model, each with optional ``rpm``/``tpm``).

The Router picks a deployment for each call and cools a deployment down for litellm's default
``cooldown_time`` (5 s) from its first failure in a minute (``allowed_fails = 0``); it retries nothing
itself (``num_retries = 0``): the client retries a failed call as it retries any call, with its back-off, and
the retry goes to another deployment, the failed one resting. (litellm's own default cools a deployment only
once half of at least a few calls in a minute failed, and a retry drawn at random could hit the failing one
again; and the Router's own retries would wait out a minute's rate limit inside one call, past its timeout.)
When every deployment is resting or at its limit, the Router answers 429 with the time to wait, which the
client treats like a provider's Retry-After: waited out, or the case stopped with "run again later" when it
is longer than the timeout. With limits set, it routes by usage
(``usage-based-routing-v2``) and never sends a deployment more than its ``rpm``/``tpm`` in a minute; when
every deployment is at its limit it answers 429, which the client backs off from like any rate limit.
Without limits it shuffles calls evenly (``simple-shuffle``). Keys are read from the environment when the
Router is built, held in memory only, never stored.

The Router counts a deployment's calls in its process's memory: a run shared by N processes
(``workbench.shard``) gives each of them ``share`` = 1/N of every limit (rounded down, at least 1), so that
together they stay within it.

The Router knows each deployment by an id of ours (``router_id``: letters and digits only), never by its
label: litellm's usage-based routing keys its counters ``<id>:<model>:rpm:<minute>`` and reads the id back
as the text before the first ':', so a label with a ':' (an ``api_base``, the default label, or a ``name``
such as "eu:1") would never be found again and its deployment never picked. Results and summaries still
name a deployment by its label (``served_by`` maps the id back).
"""

from __future__ import annotations

import hashlib
from typing import Any

from workbench.providers.registry import Deployment, ResolvedModel
from workbench.records import field_of


def shared_limit(limit: int, share: float) -> int:
    """A process's part of a deployment's ``limit`` (rpm or tpm) when it makes ``share`` (0-1] of the calls:
    rounded down, at least 1."""
    return max(1, int(limit * share))


def make_router(model: ResolvedModel, *, timeout: float, share: float = 1.0) -> Any:
    """A litellm ``Router`` over ``model``'s deployments, answering ``model.name``: each deployment is called
    with at most ``timeout`` seconds, once (the client retries), and is given ``share`` of its ``rpm`` and
    ``tpm`` (``shared_limit``). Needs litellm imported (``client.ensure_litellm``)."""
    from litellm import Router

    limited = any(deployment.rpm or deployment.tpm for deployment in model.deployments)
    model_list = []
    for deployment in model.deployments:
        params: dict[str, Any] = {"model": deployment.model, "timeout": timeout, "max_retries": 0,
                                  **deployment.call_kwargs()}
        if deployment.rpm:
            params["rpm"] = shared_limit(deployment.rpm, share)
        if deployment.tpm:
            params["tpm"] = shared_limit(deployment.tpm, share)
        model_list.append({"model_name": model.name, "litellm_params": params,
                           "model_info": {"id": router_id(model.name, deployment)}})
    import litellm

    known = set(litellm.model_cost)
    router = Router(model_list=model_list, num_retries=0, timeout=timeout, allowed_fails=0,
                    routing_strategy="usage-based-routing-v2" if limited else "simple-shuffle")
    # The Router enters each deployment's model, and its id, in litellm's cost map, at a price of 0 when the
    # map does not know the model: every later call of it, routed or not, would then cost $0 instead of an
    # unknown price. The entries it added are taken out again (the routing needs none of them).
    for added in set(litellm.model_cost) - known:
        litellm.model_cost.pop(added, None)
    return router


def router_id(alias: str, deployment: Deployment) -> str:
    """The id the Router of ``alias`` knows ``deployment`` by: stable, unique within the alias (its label is)
    and across aliases, and safe in litellm's cache keys (letters and digits only, no ':')."""
    digest = hashlib.sha256("\0".join((alias, deployment.label, deployment.model)).encode()).hexdigest()
    return f"wb{digest[:20]}"


def deployment_labels(model: ResolvedModel) -> dict[str, str]:
    """The label of each of ``model``'s deployments, by its Router id."""
    return {router_id(model.name, deployment): deployment.label for deployment in model.deployments}


def served_by(response: Any, model: ResolvedModel) -> str | None:
    """The label of ``model``'s deployment that answered ``response`` (litellm keeps its ``model_info`` id
    in the response's hidden params), or None for an answer that did not come through a Router."""
    served = field_of(getattr(response, "_hidden_params", None) or {}, "model_id")
    if not served:
        return None
    return deployment_labels(model).get(str(served), str(served))


def with_labels(text: str, model: ResolvedModel) -> str:
    """``text`` (a Router's error) with each deployment's Router id replaced by its label."""
    for served, label in deployment_labels(model).items():
        text = text.replace(served, label)
    return text
