"""The floor under the webhook: an HTTP service that makes the gateway's Temporal call and nothing else.

    uvicorn --app-dir bench forwarder:app      # settings from the environment, as the gateway's

`bench/ingest.py` serves it beside the gateway and times it with them. A POST is read whole and
answered 202 once Temporal has taken the gateway's own call (`gateway.ingest.send`) with the same
notification the gateway would send — read from the first body, once, and then sent again for
each request under a workflow id of its own — so nothing is parsed, validated or redacted per
request. Its latency is what any HTTP service in front of Temporal pays on the machine (its own
process, a wake-up on the request and one on the answer); the webhook's beyond it is the gateway's
own work.
"""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from typing import Any

from domain.settings import settings_from_mapping
from gateway.ingest import Notification, read_notification, send
from integrations.temporal.client import connect

Message = dict[str, Any]


class Forwarder:
    """A bare ASGI application (no framework): the least an HTTP front of Temporal can do."""

    def __init__(self) -> None:
        self.settings = settings_from_mapping(os.environ)
        self.client: Any = None
        self.template: Notification | None = None
        self.prefix = uuid.uuid4().hex[:8]
        self.sent = 0

    async def __call__(self, scope: Message, receive: Any, respond: Any) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, respond)
            return
        raw = b""
        more = True
        while more:
            message = await receive()
            raw += message.get("body", b"")
            more = message.get("more_body", False)
        status, body = 200, b'{"status":"ok"}'
        if scope["method"] == "POST":
            notification = self.next_notification(raw)
            delivery = await send(self.client, self.settings, notification)
            status = 202 if delivery.delivered else 200
            body = json.dumps({"workflow_ids": [delivery.workflow_id]}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await respond({"type": "http.response.start", "status": status, "headers": headers})
        await respond({"type": "http.response.body", "body": body})

    def next_notification(self, raw: bytes) -> Notification:
        """The first body's notification (read once), under a new workflow id each time."""
        if self.template is None:
            self.template = read_notification(self.settings, raw)
        self.sent += 1
        workflow_id = f"{self.template.workflow_id}-floor-{self.prefix}-{self.sent}"
        return dataclasses.replace(self.template, workflow_id=workflow_id)

    async def lifespan(self, receive: Any, respond: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.client = await connect(self.settings)
                await respond({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await respond({"type": "lifespan.shutdown.complete"})
                return


app = Forwarder()
