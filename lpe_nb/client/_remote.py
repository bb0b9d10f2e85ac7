""":class:`RemoteBackend`: the extension's REST API and WebSocket, with the server's token.

Not thread-safe: use it on the loop that opened it (the sync ``Client`` guarantees this).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from tornado.websocket import WebSocketClientConnection, websocket_connect

from lpe_nb.errors import LpeError, ServerUnreachable, TokenRefused
from lpe_nb.jobs import JobEvent, JobPage, JobRecord, StepRecord
from lpe_nb.jobs.analytics import Analytics
from lpe_nb.jobs.store import CacheStats
from lpe_nb.operations import JobTypeInfo

from ._backend import NO_OPTIONS, EventDeduper, SubmitOptions
from ._schedule_backends import RemoteSchedules
from ._wire import error_from_body, event_from_frame, job_from_dict, step_from_dict

__all__ = ["RemoteBackend"]

_REFUSED = (401, 403)


class RemoteBackend(RemoteSchedules):
    """A :class:`~lpe_nb.client._backend.Backend` talking to ``{url}lpe/...``; ``url`` includes base_url.

    ``events`` reconnects after a dropped WebSocket (up to ``reconnect_attempts`` failures in a row, with
    a short backoff) and resumes with ``since`` = the last ``seq`` seen, dropping any repeat.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        request_timeout_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        reconnect_attempts: int = 5,
        ws_ping_interval_s: float = 20.0,
    ) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.token = token or None
        self.request_timeout_s = request_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.reconnect_attempts = reconnect_attempts
        self.ws_ping_interval_s = ws_ping_interval_s
        self._http = AsyncHTTPClient(force_instance=True)
        self._sockets: set[WebSocketClientConnection] = set()
        self._closed = False

    @property
    def location(self) -> str:
        return self.url

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"} if self.token else {}

    async def _request(self, method: str, path: str, *, body: Any = None, query: str = "") -> Any:
        url = f"{self.url}lpe/api/{path}" + (f"?{query}" if query else "")
        payload = (
            None if method in ("GET", "DELETE") else json.dumps(body if body is not None else {}).encode()
        )
        request = HTTPRequest(
            url,
            method=method,
            headers={**self._headers(), "Content-Type": "application/json"},
            body=payload,
            request_timeout=self.request_timeout_s,
            connect_timeout=self.connect_timeout_s,
        )
        try:
            response: HTTPResponse = await self._http.fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as exc:
            raise ServerUnreachable(self.url, str(exc) or type(exc).__name__) from exc
        if response.code == 599:  # tornado's code for "no HTTP answer" (timeout, reset)
            raise ServerUnreachable(self.url, str(response.error))
        if response.code in _REFUSED:
            raise TokenRefused(self.url)
        text = response.body.decode("utf-8", "replace") if response.body else ""
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data = None
        if response.code >= 400:
            if response.code == 404 and not isinstance(data, dict):
                raise LpeError(f"{url} is not an lpe-nb route (404); is the lpe_nb extension enabled there?")
            raise error_from_body(response.code, data)
        return data

    async def submit(
        self,
        job_type: str,
        data: dict[str, Any],
        options: SubmitOptions = NO_OPTIONS,
    ) -> str:
        given = {
            "max_attempts": options.max_attempts,
            "priority": options.priority,
            # naive stays naive: the server refuses it, naming run_at
            "run_at": None if options.run_at is None else options.run_at.isoformat(),
            "delay_s": options.delay_s,
            "cache": options.cache,
            "depends_on": options.depends_on,
            "inputs_from": None if options.inputs_from is None else dict(options.inputs_from),
        }
        body = {"type": job_type, "input": data, **{k: v for k, v in given.items() if v is not None}}
        reply = await self._request("POST", "jobs", body=body)
        job_id: str = reply["job_id"]
        return job_id

    async def job_types(self) -> list[JobTypeInfo]:
        data = await self._request("GET", "job-types")
        return [JobTypeInfo.from_dict(info) for info in data["job_types"]]

    async def get(self, job_id: str) -> tuple[JobRecord, list[StepRecord]]:
        data = await self._request("GET", f"jobs/{quote(job_id, safe='')}")
        return job_from_dict(data), [step_from_dict(step) for step in data.get("steps", [])]

    async def list_jobs(
        self, *, status: Sequence[str] | None, job_type: str | None, limit: int, cursor: str | None
    ) -> JobPage:
        params: dict[str, str] = {"limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        if status:
            params["status"] = ",".join(status)
        if job_type:
            params["type"] = job_type
        data = await self._request("GET", "jobs", query=urlencode(params))
        return JobPage([job_from_dict(job) for job in data["jobs"]], data.get("next_cursor"))

    async def analytics(
        self, *, since: datetime | str | None, until: datetime | str | None, group_by: Sequence[str]
    ) -> Analytics:
        params = {name: value.isoformat() if isinstance(value, datetime) else value
                  for name, value in (("since", since), ("until", until)) if value is not None}  # fmt: skip
        if group_by:
            params["group_by"] = ",".join(group_by)
        return Analytics.from_dict(await self._request("GET", "analytics", query=urlencode(params)))

    async def cache_stats(self) -> CacheStats:
        reply = await self._request("GET", "cache")
        return CacheStats(**{name: reply[name] for name in CacheStats.__dataclass_fields__ if name in reply})

    async def clear_cache(self) -> int:
        reply = await self._request("DELETE", "cache")
        return int(reply["deleted"])

    async def catalog(self) -> dict[str, Any]:
        data: dict[str, Any] = await self._request("GET", "catalog")
        return data

    async def delete_catalog_entry(self, kind: str, name: str) -> None:
        await self._request("DELETE", f"catalog/{quote(kind, safe='')}/{quote(name, safe='')}")

    async def cancel(self, job_id: str) -> JobRecord:
        data = await self._request("POST", f"jobs/{quote(job_id, safe='')}/cancel")
        return job_from_dict(data)

    async def delete(self, job_id: str) -> None:
        await self._request("DELETE", f"jobs/{quote(job_id, safe='')}")

    async def metrics(self) -> dict[str, Any]:
        figures: dict[str, Any] = await self._request("GET", "metrics")
        return figures

    async def set_priority(self, job_id: str, priority: int) -> JobRecord:
        data = await self._request("PATCH", f"jobs/{quote(job_id, safe='')}", body={"priority": priority})
        return job_from_dict(data)

    async def _connect_ws(self) -> WebSocketClientConnection:
        ws_url = "ws" + self.url.removeprefix("http") + "lpe/ws"
        request = HTTPRequest(ws_url, headers=self._headers(), connect_timeout=self.connect_timeout_s)
        try:
            return await websocket_connect(
                request, ping_interval=self.ws_ping_interval_s, ping_timeout=self.ws_ping_interval_s
            )
        except HTTPClientError as exc:
            if exc.code in _REFUSED:
                raise TokenRefused(self.url) from exc
            raise ServerUnreachable(self.url, f"WebSocket {ws_url}: {exc}") from exc
        except OSError as exc:
            raise ServerUnreachable(self.url, f"WebSocket {ws_url}: {exc}") from exc

    async def events(self, job_id: str) -> AsyncIterator[JobEvent]:
        seen = EventDeduper()
        failures = 0
        while True:
            if self._closed:
                raise LpeError("the client was closed")
            try:
                ws = await self._connect_ws()
            except ServerUnreachable:
                failures += 1
                if failures > self.reconnect_attempts:
                    raise
                await asyncio.sleep(min(2.0, 0.1 * 2**failures))  # backoff before reconnecting
                continue
            self._sockets.add(ws)
            try:
                await ws.write_message(
                    json.dumps({"type": "watch", "job_id": job_id, "since": seen.last_seq})
                )
                while True:
                    message = await ws.read_message()
                    if message is None:
                        break  # dropped: reconnect and resume from the last seq seen
                    failures = 0
                    frame = json.loads(message)
                    if frame.get("type") == "error" and frame.get("job_id") == job_id:
                        raise LpeError.from_dict(frame)  # JobNotFound for an unknown id, by its code
                    event = event_from_frame(frame)
                    if event is None or event.job_id != job_id or not seen.is_new(event):
                        continue
                    yield event
                    if event.is_terminal:
                        return
            finally:
                self._sockets.discard(ws)
                ws.close()

    async def aclose(self) -> None:
        self._closed = True
        for ws in list(self._sockets):
            ws.close()
        self._http.close()
