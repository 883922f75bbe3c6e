"""Drives Orvanta's flow routes with Windmill's published Python client
(`windmill-api` on PyPI), unchanged: create, read, list, history, run (async
and sync), step results, archive, delete. Prints one JSON object of what it
saw; the Rust test (tests/it/windmill_clients.rs) checks it.

Usage: python3 windmill_api_flows.py BASE_URL TOKEN WORKSPACE
"""

import json
import sys
import time

from windmill_api import AuthenticatedClient
from windmill_api.api.flow import (
    archive_flow_by_path,
    create_flow,
    delete_flow_by_path,
    exists_flow_by_path,
    get_flow_by_path,
    get_flow_history,
    get_flow_version,
    list_flows,
    update_flow,
)
from windmill_api.api.job import (
    get_completed_job_result,
    get_completed_job_result_maybe,
    result_by_id,
    run_flow_by_path,
    run_wait_result_flow_by_path,
)
from windmill_api.models.archive_flow_by_path_json_body import ArchiveFlowByPathJsonBody
from windmill_api.models.create_flow_json_body import CreateFlowJsonBody
from windmill_api.models.run_flow_by_path_json_body import RunFlowByPathJsonBody
from windmill_api.models.run_wait_result_flow_by_path_json_body import RunWaitResultFlowByPathJsonBody
from windmill_api.models.update_flow_json_body import UpdateFlowJsonBody

base, token, ws = sys.argv[1], sys.argv[2], sys.argv[3]
client = AuthenticatedClient(base_url=f"{base}/api", token=token, timeout=60)
seen = {}

def flow(n):
    return {
        "path": "u/admin/wm_client_flow",
        "summary": f"made by windmill-api {n}",
        "description": "",
        "value": {
            "modules": [
                {
                    "id": "a",
                    "value": {
                        "type": "rawscript",
                        "language": "python3",
                        "content": "def main(x: int):\n    return x * %d\n" % n,
                        "input_transforms": {"x": {"type": "javascript", "expr": "flow_input.x"}},
                    },
                }
            ]
        },
        "schema": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]},
    }

r = create_flow.sync_detailed(ws, client=client, json_body=CreateFlowJsonBody.from_dict(flow(2)))
seen["create"] = [r.status_code, r.content.decode()]
got = get_flow_by_path.sync(ws, "u/admin/wm_client_flow", client=client)
seen["get_summary"] = got["summary"]
first = got.to_dict().get("version_id")
r = update_flow.sync_detailed(ws, "u/admin/wm_client_flow", client=client, json_body=UpdateFlowJsonBody.from_dict(flow(3)))
seen["update"] = r.status_code
seen["exists"] = exists_flow_by_path.sync(ws, "u/admin/wm_client_flow", client=client)
seen["list"] = [f.to_dict()["path"] for f in list_flows.sync(ws, client=client)]
seen["history"] = len(get_flow_history.sync(ws, "u/admin/wm_client_flow", client=client))
old = get_flow_version.sync_detailed(ws, first, client=client)
seen["version_status"] = old.status_code

r = run_wait_result_flow_by_path.sync_detailed(
    ws, "u/admin/wm_client_flow", client=client, json_body=RunWaitResultFlowByPathJsonBody.from_dict({"x": 7})
)
seen["sync"] = json.loads(r.content)
r = run_flow_by_path.sync_detailed(ws, "u/admin/wm_client_flow", client=client, json_body=RunFlowByPathJsonBody.from_dict({"x": 5}))
job = r.content.decode()
seen["async_status"] = r.status_code
for _ in range(600):
    maybe = get_completed_job_result_maybe.sync(ws, job, client=client)
    if maybe.completed:
        break
    time.sleep(0.1)
seen["async_result"] = get_completed_job_result.sync_detailed(ws, job, client=client).content.decode()
seen["step_result"] = json.loads(result_by_id.sync_detailed(ws, job, "a", client=client).content)
r = archive_flow_by_path.sync_detailed(
    ws, "u/admin/wm_client_flow", client=client, json_body=ArchiveFlowByPathJsonBody.from_dict({"archived": True})
)
seen["archive"] = r.status_code
r = delete_flow_by_path.sync_detailed(ws, "u/admin/wm_client_flow", client=client)
seen["delete"] = r.status_code
print(json.dumps(seen))
