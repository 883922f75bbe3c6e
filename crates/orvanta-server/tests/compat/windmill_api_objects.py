"""Drives Orvanta's variables, resources, resource types and workspace webhook
settings with Windmill's published Python client (`windmill-api` on PyPI),
unchanged. Prints one JSON object of what it saw (a refused call is recorded
with its status and the start of its body, not raised).

Usage: python3 windmill_api_objects.py BASE_URL TOKEN WORKSPACE
"""

import json
import sys

from windmill_api import AuthenticatedClient
from windmill_api.api.resource import (
    create_resource,
    create_resource_type,
    get_resource,
    get_resource_value_interpolated,
    list_resource,
)
from windmill_api.api.variable import create_variable, get_variable, get_variable_value, list_variable
from windmill_api.api.workspace import edit_webhook, get_settings
from windmill_api.models.create_resource_json_body import CreateResourceJsonBody
from windmill_api.models.create_resource_type_json_body import CreateResourceTypeJsonBody
from windmill_api.models.create_variable_json_body import CreateVariableJsonBody
from windmill_api.models.edit_webhook_json_body import EditWebhookJsonBody

base, token, ws = sys.argv[1], sys.argv[2], sys.argv[3]
client = AuthenticatedClient(base_url=f"{base}/api", token=token, timeout=60)
seen = {}


def call(name, fn, pick):
    try:
        r = fn()
        seen[name] = {"status": int(r.status_code), **(pick(r) if 200 <= int(r.status_code) < 300 else {"body": r.content.decode()[:300]})}
    except Exception as e:  # noqa: BLE001 - recorded, not raised
        seen[name] = {"error": f"{type(e).__name__}: {e}"}


body = CreateVariableJsonBody(path="u/admin/wm_secret", value="s3cr3t-value", is_secret=True, description="made by windmill-api")
call("create_variable", lambda: create_variable.sync_detailed(ws, client=client, json_body=body), lambda r: {})
call("get_variable", lambda: get_variable.sync_detailed(ws, "u/admin/wm_secret", client=client),
     lambda r: {"is_secret": r.parsed.is_secret, "path": r.parsed.path})
call("get_variable_value", lambda: get_variable_value.sync_detailed(ws, "u/admin/wm_secret", client=client),
     lambda r: {"value": r.parsed})
call("list_variable", lambda: list_variable.sync_detailed(ws, client=client),
     lambda r: {"paths": [v.path for v in r.parsed]})
rt = CreateResourceTypeJsonBody.from_dict({"name": "wm_api", "schema": {"type": "object", "required": ["url"]}})
call("create_resource_type", lambda: create_resource_type.sync_detailed(ws, client=client, json_body=rt), lambda r: {})
res = CreateResourceJsonBody.from_dict({"path": "u/admin/wm_res", "resource_type": "wm_api", "value": {"url": "https://x", "key": "$var:u/admin/wm_secret"}})
call("create_resource", lambda: create_resource.sync_detailed(ws, client=client, json_body=res), lambda r: {})
call("get_resource", lambda: get_resource.sync_detailed(ws, "u/admin/wm_res", client=client),
     lambda r: {"resource_type": r.parsed.resource_type})
call("get_resource_value_interpolated",
     lambda: get_resource_value_interpolated.sync_detailed(ws, "u/admin/wm_res", client=client),
     lambda r: {"value": json.loads(r.content)})
call("list_resource", lambda: list_resource.sync_detailed(ws, client=client),
     lambda r: {"paths": [x.path for x in r.parsed]})
hook = EditWebhookJsonBody.from_dict({"webhook": None})
call("edit_webhook", lambda: edit_webhook.sync_detailed(ws, client=client, json_body=hook), lambda r: {})
call("get_settings", lambda: get_settings.sync_detailed(ws, client=client),
     lambda r: {"has_secret": json.loads(r.content).get("webhook_secret", "").startswith("whsec_")})
print(json.dumps(seen))
