"""The look-up API: a customer's current segment, scores (with model versions), live features,
decayed behaviour vector and time of last update, from the online store.

    GET /v1/customers/{customer_number}
    GET /v1/visitors/{anonymous_id}     the linked customer's record, or the visitor's own
    GET /health, /ready, /metrics       (metrics: the workers' and this process's)

Key in `X-API-Key` (scope ``lookup``). 404 for an unknown customer or visitor, and for a
customer without profiling consent (nothing is kept about them); never a 5xx for any input.
"""

from __future__ import annotations

import gc
import time
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import redis.asyncio as aredis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from cible import settings
from cible.live.collector import api_key
from cible.live.config import LiveConfig, load_live_config
from cible.live.keys import KeyRing
from cible.live.metrics import Metrics, render
from cible.live.store import LOOKUP_SCRIPT, loads

MAX_IDENTIFIER = 200


def decayed_now(state: dict, now: datetime) -> dict:
    """The decayed vector seen from `now`: ``{quantity: {"<h>h": value}}``."""
    decayed = state.get("decayed") or {}
    half_lives = state.get("half_lives_hours") or []
    reference = decayed.get("reference_at")
    if not reference:
        return {}
    hours = (now - datetime.fromisoformat(reference)).total_seconds() / 3600.0
    return {
        name: {f"{h:g}h": v * 2.0 ** (-hours / h) for v, h in zip(values, half_lives, strict=True)}
        for name, values in decayed.get("values", {}).items()
    }


def present(state: dict, now: datetime) -> dict:
    out = {k: v for k, v in state.items() if k not in ("decayed",)}
    out["state_vector"] = decayed_now(state, now)
    out["state_vector_at"] = now.replace(tzinfo=UTC).isoformat()
    return out


def create_lookup_app(config: LiveConfig | None = None, redis_url: str | None = None) -> FastAPI:
    config = config or load_live_config()
    keys = KeyRing(config.collector.api_keys_path())
    metrics = Metrics()
    prefix = config.store.key_prefix
    client = aredis.Redis.from_url(redis_url or settings.redis_url(), socket_timeout=5)
    script = client.register_script(LOOKUP_SCRIPT)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # What start-up made (modules, the app, its schemas) lives as long as the process:
        # kept out of the garbage collector's scans, as the worker does for its models.
        gc.freeze()
        yield
        await client.aclose()

    app = FastAPI(
        title="Cible look-up",
        version="1",
        description="Live segment, scores and behaviour of a customer or visitor (docs/live.md).",
        lifespan=lifespan,
    )

    async def find(request: Request, kind: str, identifier: str):
        started = time.perf_counter()
        if keys.check(api_key(request), "lookup") is None:
            return JSONResponse({"error": "missing, wrong or revoked API key (X-API-Key)"}, 401)
        if not identifier or len(identifier) > MAX_IDENTIFIER or "\x00" in identifier:
            return JSONResponse({"error": f"unknown {kind}"}, 404)
        try:
            generation, value = await script(
                keys=[f"{prefix}:gen"], args=[prefix, kind, identifier]
            )
        except (aredis.RedisError, OSError) as error:
            return JSONResponse({"error": f"the online store is unavailable: {error}"}, 503)
        metrics.observe("cible_lookup_seconds", time.perf_counter() - started)
        if not generation:
            return JSONResponse({"error": "the online store is not bootstrapped yet"}, 503)
        if not value:
            metrics.inc("cible_lookups_total", found="false")
            return JSONResponse({"error": f"unknown {kind} (or not profiled)"}, 404)
        metrics.inc("cible_lookups_total", found="true")
        now = datetime.now(UTC).replace(tzinfo=None)
        return JSONResponse(present(loads(value), now))

    @app.get("/v1/customers/{customer_number}")
    async def customer(customer_number: str, request: Request):
        """A customer's live record, by customer number."""
        return await find(request, "customer", customer_number)

    @app.get("/v1/visitors/{anonymous_id}")
    async def visitor(anonymous_id: str, request: Request):
        """A visitor's live record, by anonymous id (the linked customer's, if any)."""
        return await find(request, "visitor", anonymous_id)

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/ready")
    async def ready():
        """Ready when Redis answers and the store has been bootstrapped."""
        try:
            generation = await client.get(f"{prefix}:gen")
        except (aredis.RedisError, OSError) as error:
            return JSONResponse({"error": f"the online store is unavailable: {error}"}, 503)
        if generation is None:
            return JSONResponse({"error": "the online store is not bootstrapped yet"}, 503)
        return {"status": "ready", "generation": int(generation)}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def prometheus():
        """The workers' metrics (summed in Redis) and this process's."""
        try:
            stored = await client.hgetall(f"{prefix}:metrics")
        except (aredis.RedisError, OSError):
            stored = {}
        values = {k.decode(): float(v) for k, v in stored.items()}
        values.update(metrics.snapshot())
        return render(values)

    return app
