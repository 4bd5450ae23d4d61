"""The daemon's HTTP edge: a Starlette application (app.py: every route in one table),
served by uvicorn inside the daemon process (server.py), with the push webhook's
defences (webhook.py), the bounds it holds under abuse (limits.py) and the one JSON
shape of answers and errors (responses.py)."""
