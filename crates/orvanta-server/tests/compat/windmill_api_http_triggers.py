"""Drives Orvanta's custom HTTP routes with Windmill's published Python client
(`windmill-api` on PyPI), unchanged: create, exists, route_exists, get, list,
update and delete of an http trigger, and a call of the route it serves. The
client parses every answer into its models, so an answer lacking a field they
require shows as an error here. Prints one JSON object of what it saw (a
refused call is recorded with its status and the start of its body).

Usage: python3 windmill_api_http_triggers.py BASE_URL TOKEN WORKSPACE
"""

import json
import sys
import urllib.request

from windmill_api import AuthenticatedClient
from windmill_api.api.http_trigger import (
    create_http_trigger,
    delete_http_trigger,
    exists_http_trigger,
    exists_route,
    get_http_trigger,
    list_http_triggers,
    update_http_trigger,
)
from windmill_api.models.create_http_trigger_json_body import CreateHttpTriggerJsonBody
from windmill_api.models.exists_route_json_body import ExistsRouteJsonBody
from windmill_api.models.update_http_trigger_json_body import UpdateHttpTriggerJsonBody

base, token, ws = sys.argv[1], sys.argv[2], sys.argv[3]
client = AuthenticatedClient(base_url=f"{base}/api", token=token, timeout=60)
path = "u/admin/wm_py_route"
seen = {}


def call(name, fn, pick):
    try:
        r = fn()
        ok = 200 <= int(r.status_code) < 300
        seen[name] = {"status": int(r.status_code), **(pick(r) if ok else {"body": r.content.decode()[:300]})}
    except Exception as e:  # noqa: BLE001 - recorded, not raised
        seen[name] = {"error": f"{type(e).__name__}: {e}"}


new = CreateHttpTriggerJsonBody.from_dict({
    "path": path, "script_path": "u/admin/echo", "route_path": "wm/:id", "is_flow": False,
    "http_method": "post", "authentication_method": "none", "is_static_website": False,
    "request_type": "sync", "summary": "made by windmill-api",
})
call("create", lambda: create_http_trigger.sync_detailed(ws, client=client, json_body=new),
     lambda r: {"path": r.content.decode()})
call("exists", lambda: exists_http_trigger.sync_detailed(ws, path, client=client), lambda r: {"value": r.parsed})
taken = ExistsRouteJsonBody.from_dict({"route_path": "wm/:other", "http_method": "post"})
call("route_exists", lambda: exists_route.sync_detailed(ws, client=client, json_body=taken), lambda r: {"value": r.parsed})
call("get", lambda: get_http_trigger.sync_detailed(ws, path, client=client), lambda r: {
    "route_path": r.parsed.route_path,
    "http_method": str(r.parsed.http_method),
    "request_type": str(r.parsed.request_type),
    "authentication_method": str(r.parsed.authentication_method),
    "summary": r.parsed.summary,
})
call("list", lambda: list_http_triggers.sync_detailed(ws, client=client), lambda r: {
    "routes": [[t.path, t.route_path, t.script_path, t.is_flow, str(t.mode)] for t in r.parsed],
})
edit = UpdateHttpTriggerJsonBody.from_dict({
    "path": path, "script_path": "u/admin/echo", "is_flow": False, "is_static_website": False,
    "route_path": "wm/v2/:id", "http_method": "post", "authentication_method": "none", "request_type": "sync",
})
call("update", lambda: update_http_trigger.sync_detailed(ws, path, client=client, json_body=edit), lambda r: {})
req = urllib.request.Request(f"{base}/api/r/wm/v2/7", data=b'{"name": "py"}',
                             headers={"Content-Type": "application/json"}, method="POST")
with urllib.request.urlopen(req, timeout=60) as resp:
    seen["served"] = {"status": resp.status, "body": json.loads(resp.read())}
call("delete", lambda: delete_http_trigger.sync_detailed(ws, path, client=client), lambda r: {})
call("exists_after_delete", lambda: exists_http_trigger.sync_detailed(ws, path, client=client),
     lambda r: {"value": r.parsed})
print(json.dumps(seen))
