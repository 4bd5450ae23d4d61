"""Small JSON request bodies (a login, an action's arguments), read with a bound."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request


async def small_json(request: Request, limit: int) -> Any:
    """The JSON body of at most limit bytes, {} when it is empty or not JSON; None when
    it is longer (read no further)."""
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            return None
    try:
        return json.loads(chunks) if chunks else {}
    except ValueError:
        return {}
