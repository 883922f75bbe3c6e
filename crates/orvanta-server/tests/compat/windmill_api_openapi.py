"""Drives Orvanta's OpenAPI export with Windmill's published Python client
(`windmill-api` on PyPI), unchanged: generate (the document as text) and
download (a file) through the client's own body models, in JSON and YAML.
Prints one JSON object of what it saw.

Usage: python3 windmill_api_openapi.py BASE_URL TOKEN WORKSPACE
"""

import json
import sys

from windmill_api import AuthenticatedClient
from windmill_api.api.openapi import download_openapi_spec, generate_openapi_spec
from windmill_api.models.download_openapi_spec_json_body import DownloadOpenapiSpecJsonBody
from windmill_api.models.generate_openapi_spec_json_body import GenerateOpenapiSpecJsonBody

base, token, ws = sys.argv[1], sys.argv[2], sys.argv[3]
client = AuthenticatedClient(base_url=f"{base}/api", token=token, timeout=60)
body = {
    "info": {"title": "From windmill-api", "version": "3", "contact": {"name": "Ops"}},
    "openapi_spec_format": "json",
    "webhook_filters": [
        {"user_or_folder_regex": "u", "user_or_folder_regex_value": "admin", "path": "*", "runnable_kind": "script"}
    ],
}
seen = {}
r = generate_openapi_spec.sync_detailed(ws, client=client, json_body=GenerateOpenapiSpecJsonBody.from_dict(body))
doc = json.loads(r.content)
seen["generate"] = [r.status_code, doc["info"]["title"], sorted(doc["paths"])[0]]
r = download_openapi_spec.sync_detailed(
    ws, client=client, json_body=DownloadOpenapiSpecJsonBody.from_dict({**body, "openapi_spec_format": "yaml"})
)
text = r.parsed.payload.read().decode()
seen["download"] = [r.status_code, text.startswith("openapi: 3.1.0"), r.headers.get("content-disposition")]
print(json.dumps(seen))
