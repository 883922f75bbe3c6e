"""Drives Orvanta's app routes with Windmill's published Python client
(`windmill-api` on PyPI), unchanged: create, exists, update (a new definition,
then a new execution mode alone, which may not come with a policy), get by
path, list, history and delete. The client parses every answer into its
models, so an answer lacking a field they require shows as an error here.
Prints one JSON object of what it saw (a refused call is recorded with its
status and the start of its body, not raised).

Usage: python3 windmill_api_apps.py BASE_URL TOKEN WORKSPACE
"""

import json
import sys

from windmill_api import AuthenticatedClient
from windmill_api.api.app import (
    create_app,
    delete_app,
    exists_app,
    get_app_by_path,
    get_app_history_by_path,
    list_apps,
    update_app,
)
from windmill_api.models.create_app_json_body import CreateAppJsonBody
from windmill_api.models.update_app_json_body import UpdateAppJsonBody

base, token, ws = sys.argv[1], sys.argv[2], sys.argv[3]
client = AuthenticatedClient(base_url=f"{base}/api", token=token, timeout=60)
path = "u/admin/wm_py_app"
seen = {}


def call(name, fn, pick):
    try:
        r = fn()
        ok = 200 <= int(r.status_code) < 300
        seen[name] = {"status": int(r.status_code), **(pick(r) if ok else {"body": r.content.decode()[:300]})}
    except Exception as e:  # noqa: BLE001 - recorded, not raised
        seen[name] = {"error": f"{type(e).__name__}: {e}"}


app = CreateAppJsonBody.from_dict(
    {"path": path, "summary": "made by windmill-api", "value": {"grid": []}, "policy": {"execution_mode": "viewer"}}
)
call("create", lambda: create_app.sync_detailed(ws, client=client, json_body=app), lambda r: {"path": r.content.decode()})
call("exists", lambda: exists_app.sync_detailed(ws, path, client=client), lambda r: {"value": r.parsed})
edit = UpdateAppJsonBody.from_dict({"summary": "edited by windmill-api", "value": {"grid": [1]}})
call("update", lambda: update_app.sync_detailed(ws, path, client=client, json_body=edit),
     lambda r: {"path": r.parsed.path, "version": r.parsed.version})
mode = UpdateAppJsonBody.from_dict({"execution_mode": "publisher"})
call("update_mode", lambda: update_app.sync_detailed(ws, path, client=client, json_body=mode),
     lambda r: {"version": r.parsed.version})
both = UpdateAppJsonBody.from_dict({"execution_mode": "viewer", "policy": {"execution_mode": "viewer"}})
call("update_mode_and_policy", lambda: update_app.sync_detailed(ws, path, client=client, json_body=both), lambda r: {})
call("get", lambda: get_app_by_path.sync_detailed(ws, path, client=client), lambda r: {
    "summary": r.parsed.summary,
    "versions": r.parsed.versions,
    "value": r.parsed.value,
    "execution_mode": str(r.parsed.execution_mode),
    "policy_mode": r.parsed.policy.to_dict().get("execution_mode"),
    "raw_app": r.parsed.raw_app,
})
call("list", lambda: list_apps.sync_detailed(ws, client=client), lambda r: {
    "apps": [[a.path, a.version, str(a.execution_mode)] for a in r.parsed],
})
call("history", lambda: get_app_history_by_path.sync_detailed(ws, path, client=client),
     lambda r: {"versions": [v.version for v in r.parsed]})
call("delete", lambda: delete_app.sync_detailed(ws, path, client=client), lambda r: {})
call("exists_after_delete", lambda: exists_app.sync_detailed(ws, path, client=client), lambda r: {"value": r.parsed})
print(json.dumps(seen))
