"""The collector API: batches of events in, each validated, published to the broker, answered
only once the broker confirmed (a 2xx means durable).

    POST /v1/events      {"events": [{...}, ...]} (or a bare list); key in `X-API-Key` or
                         `?key=` (browsers' sendBeacon cannot set headers)
    GET  /health         the process answers
    GET  /ready          the broker is connected
    GET  /metrics        Prometheus text

Answers: 200 all accepted; 207 some refused (each with its reason, and kept in quarantine);
422 all refused (kept); 400 a body that is not JSON (kept); 401 no, wrong or revoked key
(nothing published); 413 body or batch too large; 429 over the key's rate; 503 the broker
did not confirm (nothing is promised: send again; event ids make that safe).
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse

from cible import settings
from cible.live import events as ev
from cible.live.broker import Broker, BrokerError, BrokerUnavailable
from cible.live.config import LiveConfig, load_live_config
from cible.live.keys import KeyRing
from cible.live.metrics import Metrics, render

EVENT_SCHEMA = {
    "type": "object",
    "description": "One micro-event, in the `events` source contract's shape "
    "(docs/source_contract.md).",
    "required": ["event_id", "event_type", "occurred_at"],
    "additionalProperties": False,
    "properties": {
        "event_id": {
            "type": "string",
            "description": "Unique per event; a re-sent event keeps it.",
        },
        "anonymous_id": {"type": "string", "description": "Cookie or device identifier."},
        "customer_number": {"type": "string", "description": "When the visitor is logged in."},
        "session_id": {"type": "string"},
        "event_type": {"type": "string", "description": "An event type of the tracking plan."},
        "occurred_at": {"type": "string", "format": "date-time"},
        "received_at": {"type": "string", "description": "Ignored: set by the collector."},
        "page_category": {"type": "string"},
        "product_sku": {"type": "string"},
        "duration_ms": {"type": "integer"},
        "scroll_depth_pct": {"type": "integer", "minimum": 0, "maximum": 100},
        "device_type": {"type": "string", "enum": ["desktop", "mobile", "tablet", "app"]},
        "traffic_source": {"type": "string"},
    },
}
REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["events"],
                "properties": {"events": {"type": "array", "items": EVENT_SCHEMA}},
            }
        }
    },
}


class TokenBuckets:
    """Requests per second per key: `burst` at once, refilled at `rate` per second."""

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, name: str) -> bool:
        now = time.monotonic()
        tokens, last = self._buckets.get(name, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[name] = (tokens, now)
            return False
        self._buckets[name] = (tokens - 1, now)
        return True


def _error(status: int, message: str, **extra) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def api_key(request: Request) -> str | None:
    """The key of a request: `X-API-Key`, `Authorization: Bearer`, or `?key=`."""
    header = request.headers.get("x-api-key")
    if header:
        return header
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return request.query_params.get("key")


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None once it exceeds `limit` bytes (read no further)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class Collector:
    """The state of a collector process: broker connection, keys, limits, metrics."""

    def __init__(self, config: LiveConfig, broker_url: str):
        self.config = config
        self.broker_url = broker_url
        self.keys = KeyRing(config.collector.api_keys_path())
        self.buckets = TokenBuckets(
            config.collector.requests_per_second_per_key, config.collector.burst
        )
        self.metrics = Metrics()
        self.broker: Broker | None = None
        self._connecting = asyncio.Lock()

    async def connected(self) -> Broker:
        if self.broker is not None and not self.broker.is_closed:
            return self.broker
        async with self._connecting:
            if self.broker is None or self.broker.is_closed:
                self.broker = await Broker.connect(self.broker_url, self.config.broker.queues)
        return self.broker

    async def publish(self, valid: list[tuple[str, bytes]], refused: list[bytes]) -> None:
        broker = await self.connected()
        started = time.perf_counter()
        try:
            await asyncio.gather(broker.publish_events(valid), broker.publish_quarantine(refused))
        except (BrokerError, *BrokerUnavailable):
            # A broker restarted or a channel closed: the next request connects afresh.
            self.broker = None
            try:
                await broker.close()
            except (BrokerError, *BrokerUnavailable):
                pass
            raise
        self.metrics.observe("cible_publish_seconds", time.perf_counter() - started)

    async def close(self) -> None:
        if self.broker is not None:
            await self.broker.close()


def quarantine_message(line: str, reason: str, received_at: datetime) -> bytes:
    """What the quarantine queue carries: the landing line to write and why."""
    return json.dumps(
        {
            "id": str(uuid.uuid4()),
            "reason": reason,
            "received_at": ev.iso(received_at),
            "line": line,
        }
    ).encode()


def create_collector_app(
    config: LiveConfig | None = None, broker_url: str | None = None
) -> FastAPI:
    """The collector as an ASGI app (run it with uvicorn)."""
    config = config or load_live_config()
    collector = Collector(config, broker_url or settings.broker_url())
    limits = config.collector

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        try:
            await collector.connected()
        except (BrokerError, *BrokerUnavailable):
            pass  # /ready says so; each request tries again
        gc.freeze()  # start-up's objects out of the collector's scans (as in the look-up API)
        yield
        await collector.close()

    app = FastAPI(
        title="Cible collector",
        version="1",
        description="Micro-events in, validated against the events contract and the tracking "
        "plan, published to the broker with confirms. See docs/live.md.",
        lifespan=lifespan,
    )
    # Trackers post from the site's pages; the API key, not the origin, is the credential.
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["POST", "GET"])
    app.state.collector = collector

    def answer(status: int, content: dict) -> JSONResponse:
        collector.metrics.inc("cible_requests_total", status=str(status))
        return JSONResponse(content, status_code=status)

    @app.post(
        "/v1/events",
        openapi_extra={"requestBody": REQUEST_BODY},
        responses={
            200: {"description": "Every event accepted and confirmed by the broker."},
            207: {"description": "Some events refused (listed with reasons, quarantined)."},
            400: {"description": "The body is not JSON (kept in quarantine)."},
            401: {"description": "No, wrong or revoked API key: nothing published."},
            413: {"description": "Body or batch too large: nothing published."},
            422: {"description": "Every event refused (listed with reasons, quarantined)."},
            429: {"description": "Over the key's request rate: nothing published."},
            503: {"description": "The broker did not confirm: send the batch again."},
        },
    )
    async def collect(request: Request):
        """Accept a batch of events."""
        principal = collector.keys.check(api_key(request), "collect")
        if principal is None:
            return answer(401, {"error": "missing, wrong or revoked API key (X-API-Key)"})
        if not collector.buckets.allow(principal.name):
            return answer(
                429,
                {
                    "error": f"more than {limits.requests_per_second_per_key:g} requests per "
                    f"second for key {principal.name!r}: slow down and send again"
                },
            )
        body = await _read_body(request, limits.max_body_bytes)
        if body is None:
            return answer(
                413, {"error": f"body larger than {limits.max_body_bytes} bytes: split the batch"}
            )
        received_at = datetime.now(UTC).replace(tzinfo=None)
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError) as error:
            detail = f"the body is not JSON ({str(error)[:120]})"
            refused = ev.Invalid("malformed_json", detail)
            text = body.decode("utf-8", "replace")
            line = ev.quarantine_line(text, refused, received_at)
            return await _refuse_all(
                400, detail, [quarantine_message(line, refused.reason, received_at)]
            )
        items = payload.get("events") if isinstance(payload, dict) else payload
        if not isinstance(items, list) or (
            isinstance(payload, dict) and set(payload) != {"events"}
        ):
            detail = 'send {"events": [ ... ]} or a JSON list of events'
            refused = ev.Invalid("malformed_batch", detail)
            line = ev.quarantine_line(payload, refused, received_at)
            return await _refuse_all(
                400, detail, [quarantine_message(line, refused.reason, received_at)]
            )
        if len(items) > limits.max_events_per_batch:
            return answer(
                413,
                {
                    "error": f"{len(items)} events in one request; at most "
                    f"{limits.max_events_per_batch}: split the batch"
                },
            )
        valid, refused, errors, warnings = [], [], [], []
        for index, item in enumerate(items):
            try:
                row, event, notes = ev.validate(
                    item,
                    received_at,
                    limits.max_text_length,
                    limits.future_tolerance_hours,
                    limits.earliest_plausible_date,
                )
            except ev.Invalid as error:
                line = ev.quarantine_line(item, error, received_at)
                refused.append(quarantine_message(line, error.reason, received_at))
                event_id = item.get("event_id") if isinstance(item, dict) else None
                errors.append(
                    {
                        "index": index,
                        "event_id": event_id if isinstance(event_id, str) else None,
                        "reason": error.reason,
                        "detail": error.detail,
                    }
                )
                collector.metrics.inc("cible_events_rejected_total", reason=error.reason)
                continue
            valid.append((event.visitor_key, ev.landing_line(row).encode()))
            warnings += [{"index": index, "warning": note} for note in notes]
        collector.metrics.inc("cible_events_received_total", len(items))
        try:
            await collector.publish(valid, refused)
        except (BrokerError, *BrokerUnavailable) as error:
            return answer(
                503,
                {"error": f"the broker did not confirm ({str(error)[:200]}): send the batch again"},
            )
        collector.metrics.inc("cible_events_accepted_total", len(valid))
        status = 200 if not errors else (207 if valid else 422)
        content = {"accepted": len(valid), "rejected": len(errors), "errors": errors}
        if warnings:
            content["warnings"] = warnings
        return answer(status, content)

    async def _refuse_all(status: int, detail: str, refused: list[bytes]) -> JSONResponse:
        try:
            await collector.publish([], refused)
        except (BrokerError, *BrokerUnavailable) as error:
            return answer(503, {"error": f"{detail}; and the broker is unavailable ({error})"})
        collector.metrics.inc("cible_events_rejected_total", reason="malformed_body")
        return answer(status, {"error": detail, "kept_in_quarantine": True})

    @app.get("/health")
    async def health():
        """The process answers."""
        return {"status": "ok"}

    @app.get("/ready")
    async def ready():
        """Ready when the broker is connected."""
        try:
            await collector.connected()
        except (BrokerError, *BrokerUnavailable) as error:
            return _error(503, f"broker unavailable: {error}")
        return {"status": "ready"}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics():
        """Prometheus text."""
        return render(collector.metrics.snapshot())

    return app
