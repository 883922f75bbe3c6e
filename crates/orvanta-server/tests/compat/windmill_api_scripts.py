"""Drives Orvanta's script, job, user and workspace routes with Windmill's
published Python client (`windmill-api` on PyPI), unchanged: create a script
(and a second version of it), read it by path and by hash, its raw content,
history and listing; run it (async and sync), read the job back (get, completed,
result, updates, filtered lists); whoami (global and workspace), the workspace
lists; archive and delete. Prints one JSON object of what it saw; a call that
fails (HTTP error, or a body the client's parser refuses) is recorded with its
status, the exception and the start of the body instead of stopping the run.

Usage: python3 windmill_api_scripts.py BASE_URL TOKEN WORKSPACE
"""

import datetime
import json
import sys
import time

from windmill_api import AuthenticatedClient
from windmill_api.api.job import (
    get_completed_job,
    get_completed_job_result,
    get_completed_job_result_maybe,
    get_job,
    get_job_updates,
    list_jobs,
    run_script_by_path,
    run_wait_result_script_by_path,
)
from windmill_api.api.script import (
    archive_script_by_path,
    create_script,
    delete_script_by_path,
    exists_script_by_path,
    get_script_by_hash,
    get_script_by_path,
    get_script_history_by_path,
    list_scripts,
    raw_script_by_path,
)
from windmill_api.api.user import global_whoami, whoami
from windmill_api.api.workspace import list_workspaces
from windmill_api.models.create_script_json_body import CreateScriptJsonBody
from windmill_api.models.create_script_json_body_assets_item import CreateScriptJsonBodyAssetsItem
from windmill_api.models.create_script_json_body_assets_item_access_type import (
    CreateScriptJsonBodyAssetsItemAccessType,
)
from windmill_api.models.create_script_json_body_assets_item_kind import CreateScriptJsonBodyAssetsItemKind
from windmill_api.models.create_script_json_body_kind import CreateScriptJsonBodyKind
from windmill_api.models.create_script_json_body_language import CreateScriptJsonBodyLanguage
from windmill_api.models.create_script_json_body_schema import CreateScriptJsonBodySchema
from windmill_api.models.get_job_response_200_type_0 import GetJobResponse200Type0
from windmill_api.models.get_job_response_200_type_1 import GetJobResponse200Type1
from windmill_api.models.list_jobs_response_200_item_type_0 import ListJobsResponse200ItemType0
from windmill_api.models.list_jobs_response_200_item_type_1 import ListJobsResponse200ItemType1
from windmill_api.models.run_script_by_path_json_body import RunScriptByPathJsonBody
from windmill_api.models.run_wait_result_script_by_path_json_body import RunWaitResultScriptByPathJsonBody
from windmill_api.types import Unset

try:  # not in every release of windmill-api
    from windmill_api.api.workspace import list_user_workspaces
except ImportError:  # pragma: no cover
    list_user_workspaces = None

base, token, ws = sys.argv[1], sys.argv[2], sys.argv[3]
client = AuthenticatedClient(base_url=f"{base}/api", token=token, timeout=60)
PATH = "u/admin/wm_client_script"
seen = {}


def text(raw):
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


def call(mod, *args, union=None, **kwargs):
    """Calls `mod.sync_detailed`: answers (parsed, record). A non-2xx status or a
    body the generated parser refuses is recorded (status, exception, body);
    for a union answer (`union`: its member models), why each member refuses it."""
    try:
        r = mod.sync_detailed(*args, client=client, **kwargs)
    except Exception as e:  # the generated parser refused the body
        rec = {"error": f"{type(e).__name__}: {e}"}
        try:  # the same request, built by the client's own code, to see the answer
            raw = client.get_httpx_client().request(**mod._get_kwargs(*args, **kwargs))
            rec["status"] = raw.status_code
            rec["body"] = raw.text[:600]
            if union:
                rec["members"] = diagnose(union, raw.text)
        except Exception as e2:
            rec["raw_error"] = f"{type(e2).__name__}: {e2}"
        return None, rec
    rec = {"status": r.status_code}
    if r.status_code >= 300:
        rec["body"] = text(r.content)[:600]
    return r, rec


def body_json(r):
    try:
        return json.loads(r.content)
    except Exception:
        return text(r.content)


def diagnose(models, raw_body):
    """Why each member of a union refuses `raw_body` (the generated union parser
    swallows the first member's error and reports only the last one's)."""
    out = {}
    try:
        data = json.loads(raw_body)
    except Exception as e:
        return {"json": f"{type(e).__name__}: {e}"}
    if isinstance(data, list):
        data = data[0] if data else {}
    for m in models:
        try:
            m.from_dict(data)
            out[m.__name__] = "ok"
        except Exception as e:
            out[m.__name__] = f"{type(e).__name__}: {e}"
    return out


def job_kind(j):
    """'CompletedJob' / 'QueuedJob' from the union member the client picked."""
    if isinstance(j, (GetJobResponse200Type0, ListJobsResponse200ItemType0)):
        return "CompletedJob"
    if isinstance(j, (GetJobResponse200Type1, ListJobsResponse200ItemType1)):
        return "QueuedJob"
    return type(j).__name__


def val(v):
    if isinstance(v, Unset):
        return "UNSET"
    return getattr(v, "value", v) if v is not None else None


def script_body(summary, parent_hash=None):
    body = CreateScriptJsonBody(
        path=PATH,
        summary=summary,
        description="made by windmill-api",
        content="def main(x: int = 1):\n    return x * 2\n",
        language=CreateScriptJsonBodyLanguage.PYTHON3,
        kind=CreateScriptJsonBodyKind.SCRIPT,
        schema=CreateScriptJsonBodySchema.from_dict(
            {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": {"x": {"type": "integer", "default": 1, "description": ""}},
                "required": [],
            }
        ),
        is_template=False,
        envs=[],
        has_preprocessor=False,
        deployment_message=summary,
        labels=[],
        assets=[
            CreateScriptJsonBodyAssetsItem(
                path="u/admin/wm_client_db",
                kind=CreateScriptJsonBodyAssetsItemKind.RESOURCE,
                access_type=CreateScriptJsonBodyAssetsItemAccessType.R,
            )
        ],
    )
    if parent_hash:
        body.parent_hash = parent_hash
    return body


started = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)

# --- scripts -------------------------------------------------------------
r, rec = call(create_script, ws, json_body=script_body("v1"))
rec["content"] = text(r.content) if r else None
seen["create"] = rec
first_hash = rec["content"] if r is not None and r.status_code < 300 else None

r, rec = call(exists_script_by_path, ws, PATH)
rec["value"] = r.parsed if r else None
seen["exists"] = rec

r, rec = call(get_script_by_path, ws, PATH)
if r is not None and r.parsed is not None:
    s = r.parsed
    rec.update(
        hash=s.hash_, path=s.path, summary=s.summary, language=val(s.language), kind=val(s.kind),
        archived=s.archived, is_draft=s.is_draft, schema=s.schema.to_dict() if s.schema else None,
    )
    first_hash = first_hash or s.hash_
seen["get_by_path"] = rec

if first_hash:
    r, rec = call(get_script_by_hash, ws, first_hash)
    if r is not None and r.parsed is not None:
        rec.update(hash=r.parsed.hash_, path=r.parsed.path, content=r.parsed.content)
else:
    rec = {"skipped": "no hash from create nor get_by_path"}
seen["get_by_hash"] = rec

r, rec = call(raw_script_by_path, ws, PATH)
rec["content"] = text(r.content) if r else None
seen["raw"] = rec

# A second version, the way Windmill deploys one: create with parent_hash.
r, rec = call(create_script, ws, json_body=script_body("v2", parent_hash=first_hash))
rec["content"] = text(r.content) if r else None
seen["create_v2"] = rec
second_hash = rec["content"] if r is not None and r.status_code < 300 else None

r, rec = call(get_script_history_by_path, ws, PATH)
if r is not None and r.parsed is not None:
    rec["hashes"] = [h.script_hash for h in r.parsed]
    rec["deployment_msgs"] = [h.to_dict().get("deployment_msg") for h in r.parsed]
seen["history"] = rec
seen["hashes"] = {"first": first_hash, "second": second_hash}

r, rec = call(list_scripts, ws)
if r is not None and r.parsed is not None:
    rec["paths"] = [x.path for x in r.parsed]
seen["list"] = rec
r, rec = call(list_scripts, ws, path_exact=PATH)
if r is not None and r.parsed is not None:
    rec["hashes"] = [x.hash_ for x in r.parsed]
seen["list_path_exact"] = rec

# --- jobs ----------------------------------------------------------------
r, rec = call(run_wait_result_script_by_path, ws, PATH, json_body=RunWaitResultScriptByPathJsonBody.from_dict({"x": 21}))
rec["result"] = body_json(r) if r else None
seen["run_wait_result"] = rec

r, rec = call(run_script_by_path, ws, PATH, json_body=RunScriptByPathJsonBody.from_dict({"x": 5}))
job = text(r.content) if r is not None and r.status_code < 300 else None
rec["job_id"] = job
seen["run_async"] = rec

if job:
    r, rec = call(get_job_updates, ws, job)  # right after the start, probably not done yet
    if r is not None and r.parsed is not None:
        rec.update(running=val(r.parsed.running), completed=val(r.parsed.completed))
        rec["keys"] = sorted(r.parsed.to_dict())
    seen["updates_early"] = rec
    waited = {"completed": False}
    for _ in range(600):
        r, rec = call(get_completed_job_result_maybe, ws, job)
        if r is None or r.parsed is None:
            waited = rec
            break
        if r.parsed.completed:
            waited = {"completed": True, "success": r.parsed.success, "result": r.parsed.result}
            break
        time.sleep(0.1)
    seen["wait"] = waited

    r, rec = call(get_job_updates, ws, job)
    if r is not None and r.parsed is not None:
        rec.update(running=val(r.parsed.running), completed=val(r.parsed.completed))
    seen["updates_done"] = rec

    r, rec = call(get_job, ws, job, union=[GetJobResponse200Type0, GetJobResponse200Type1])
    if r is not None and r.parsed is not None:
        j = r.parsed
        d = j.to_dict()
        rec.update(type=job_kind(j), id=j.id, success=d.get("success"), result=d.get("result"),
                   job_kind=d.get("job_kind"), script_path=d.get("script_path"), script_hash=d.get("script_hash"))
    seen["get_job"] = rec

    r, rec = call(get_completed_job, ws, job)
    if r is not None and r.parsed is not None:
        d = r.parsed.to_dict()
        rec.update(id=d.get("id"), success=d.get("success"), result=d.get("result"), job_kind=d.get("job_kind"),
                   script_path=d.get("script_path"), duration_ms_is_int=isinstance(d.get("duration_ms"), int))
    seen["get_completed_job"] = rec

    r, rec = call(get_completed_job_result, ws, job)
    rec["result"] = body_json(r) if r else None
    seen["get_completed_job_result"] = rec

    filters = {
        "path_exact": dict(script_path_exact=PATH),
        "path_start": dict(script_path_start="u/admin/wm_client"),
        "success": dict(script_path_exact=PATH, success=True),
        "failed": dict(script_path_exact=PATH, success=False),
        "running": dict(script_path_exact=PATH, running=True),
        "job_kinds": dict(script_path_exact=PATH, job_kinds="script"),
        "job_kinds_flow": dict(script_path_exact=PATH, job_kinds="flow"),
        "created_after": dict(script_path_exact=PATH, created_after=started),
        "created_before": dict(script_path_exact=PATH, created_before=started),
        "script_hash": dict(script_hash=second_hash or first_hash or ""),
        "per_page": dict(script_path_exact=PATH, per_page=1),
    }
    lists = {}
    for name, kw in filters.items():
        r, rec = call(list_jobs, ws, union=[ListJobsResponse200ItemType0, ListJobsResponse200ItemType1], **kw)
        if r is not None and r.parsed is not None:
            rec["count"] = len(r.parsed)
            rec["has_job"] = any(x.id == job for x in r.parsed)
            rec["types"] = sorted({job_kind(x) for x in r.parsed})
        lists[name] = rec
    seen["list_jobs"] = lists

# --- users and workspaces -----------------------------------------------
r, rec = call(global_whoami)
if r is not None and r.parsed is not None:
    rec.update(email=r.parsed.email, login_type=val(r.parsed.login_type), super_admin=r.parsed.super_admin)
seen["global_whoami"] = rec

r, rec = call(whoami, ws)
if r is not None and r.parsed is not None:
    rec.update(email=r.parsed.email, username=r.parsed.username, is_admin=r.parsed.is_admin)
seen["whoami"] = rec

r, rec = call(list_workspaces)
if r is not None and r.parsed is not None:
    rec["ids"] = [w.id for w in r.parsed]
seen["list_workspaces"] = rec

if list_user_workspaces is not None:
    r, rec = call(list_user_workspaces)
    if r is not None and r.parsed is not None:
        rec.update(email=r.parsed.email, ids=[w.id for w in r.parsed.workspaces])
    seen["list_user_workspaces"] = rec

# --- archive, delete -------------------------------------------------------
r, rec = call(archive_script_by_path, ws, PATH)
seen["archive"] = rec
r, rec = call(list_scripts, ws)
if r is not None and r.parsed is not None:
    rec["paths"] = [x.path for x in r.parsed]
seen["list_after_archive"] = rec

r, rec = call(delete_script_by_path, ws, PATH)
if r is not None:
    rec["value"] = r.parsed
seen["delete"] = rec
r, rec = call(exists_script_by_path, ws, PATH)
rec["value"] = r.parsed if r else None
seen["exists_after_delete"] = rec

print(json.dumps(seen, default=str))
