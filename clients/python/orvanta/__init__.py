"""Orvanta's client library for Python scripts.

Orvanta puts this package on the ``PYTHONPATH`` of every Python job, so a
script can ``import orvanta``. It reads the job's context from the
environment Orvanta sets (``ORVANTA_BASE_URL``, ``ORVANTA_WORKSPACE``,
``ORVANTA_JOB_ID``, ``ORVANTA_TOKEN``) and talks to the server with the
standard library only (``urllib``): nothing to install.

Importing it stays cheap on purpose (no ``typing``, no HTTP client at import
time): every job pays for it. ``urllib`` and ``json`` are imported by the
functions that need them, on first use.
"""

import os as _os

__all__ = [
    "OrvantaError",
    "S3Object",
    "get_base_url",
    "get_job_id",
    "get_resource",
    "get_resume_urls",
    "get_token",
    "get_variable",
    "get_workspace",
    "load_s3_file",
    "load_s3_file_text",
    "set_resource",
    "set_variable",
    "write_s3_file",
]


class S3Object(dict):
    """A file in the workspace's object storage: ``{"s3": "<key>"}``.

    Uploaded files reach a script as plain dicts of this shape; annotate a
    parameter with ``S3Object`` to say it takes one. Being a ``dict``, an
    ``S3Object`` serialises to JSON as is, so returning one works too.

    Made from a key (``S3Object(s3="path/to/file")`` or
    ``S3Object("path/to/file")``) or from a dict that has an ``s3`` key
    (``S3Object({"s3": "path/to/file"})``); other keys are kept.
    """

    def __init__(self, *args, **kwargs):
        if len(args) > 1:
            raise TypeError(f"S3Object takes at most one positional argument ({len(args)} given)")
        if args:
            (first,) = args
            if isinstance(first, str):
                if "s3" in kwargs:
                    raise TypeError("S3Object got the key twice: positionally and as s3=")
                kwargs["s3"] = first
            else:
                # A dict, another S3Object, or pairs: what dict() accepts.
                try:
                    kwargs = {**dict(first), **kwargs}
                except (TypeError, ValueError):
                    raise TypeError(
                        f"S3Object takes a key string or a {{'s3': key}} dict, got {type(first).__name__}"
                    ) from None
        key = kwargs.get("s3")
        if not isinstance(key, str) or not key:
            raise TypeError(
                f"S3Object needs the object's key as a non-empty string, e.g. "
                f"S3Object(s3='path/to/file'); got s3={key!r}"
            )
        super().__init__(kwargs)

    @property
    def key(self):
        """The object's key in the workspace storage."""
        return self["s3"]

    def __repr__(self):
        return f"S3Object({dict.__repr__(self)})"


class OrvantaError(Exception):
    """The Orvanta server refused a request, or could not be reached.

    ``status`` is the HTTP status (``None`` when the server was not reached),
    ``code`` the error code the server answered (e.g. ``"not-found"``), and
    the message says what went wrong, in the server's words.
    """

    def __init__(self, message, status=None, code=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


def _env(name):
    value = _os.environ.get(name)
    if value is None:
        raise RuntimeError(
            f"{name} is not set: this function only works inside a job run by Orvanta"
        )
    return value


def get_base_url():
    """The base URL of the Orvanta server that runs this job."""
    return _env("ORVANTA_BASE_URL")


def get_workspace():
    """The id of the workspace this job runs in."""
    return _env("ORVANTA_WORKSPACE")


def get_job_id():
    """The id of the running job (a UUID, as text)."""
    return _env("ORVANTA_JOB_ID")


def get_token():
    """The job's short-lived API token (the job's rights, nothing more)."""
    return _env("ORVANTA_TOKEN")


def _key_of(obj):
    """The key of an ``S3Object``, a ``{"s3": key}`` dict, or a key string."""
    if isinstance(obj, str):
        key = obj
    elif isinstance(obj, dict):
        key = obj.get("s3")
    else:
        raise TypeError(
            f"expected an S3Object, a {{'s3': key}} dict or a key string, got {type(obj).__name__}"
        )
    if not isinstance(key, str) or not key:
        raise TypeError(f"the object's key must be a non-empty string, got {key!r}")
    return key


def _helper_url(action, key):
    from urllib.parse import quote

    base = get_base_url().rstrip("/")
    url = f"{base}/api/w/{quote(get_workspace(), safe='')}/job_helpers/{action}"
    if key is not None:
        url += "?file_key=" + quote(key, safe="")
    return url


def _request(what, url, method, data=None, content_type=None):
    """Sends one request with the job's token; answers the body as bytes.

    A refusal raises ``OrvantaError`` carrying the server's own message.
    """
    import urllib.error
    import urllib.request

    headers = {"Authorization": "Bearer " + get_token()}
    if content_type is not None:
        headers["Content-Type"] = content_type
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.read()
    except urllib.error.HTTPError as e:
        body = e.read()
        code, message = None, None
        try:
            import json

            error = json.loads(body)["error"]
            code, message = error.get("code"), error.get("message")
        except Exception:  # noqa: BLE001 - not Orvanta's JSON error: show the text
            message = body.decode("utf-8", "replace").strip()
        message = message or e.reason or "no message"
        raise OrvantaError(f"{what} failed ({e.code}): {message}", e.code, code) from None
    except urllib.error.URLError as e:
        raise OrvantaError(
            f"{what} failed: the Orvanta server at {get_base_url()} could not be reached ({e.reason})"
        ) from None


def load_s3_file(obj):
    """The bytes of a file of the workspace object storage.

    ``obj`` is an ``S3Object`` (or any ``{"s3": key}`` dict, such as an
    uploaded file's argument) or the key itself. A missing file raises
    ``OrvantaError`` with ``status == 404``.
    """
    key = _key_of(obj)
    return _request(f"loading {key!r}", _helper_url("download_s3_file", key), "GET")


def load_s3_file_text(obj, encoding="utf-8"):
    """The content of a file of the workspace object storage, as text."""
    return load_s3_file(obj).decode(encoding)


def write_s3_file(obj, data, content_type=None):
    """Writes ``data`` to the workspace object storage; answers its ``S3Object``.

    ``obj`` names the file (an ``S3Object``, a ``{"s3": key}`` dict or the
    key); ``None`` lets the server pick a new key. ``data`` is bytes or text
    (stored as UTF-8). ``content_type`` is recorded with the file and given
    back when it is downloaded; by default ``text/plain; charset=utf-8`` for
    text and ``application/octet-stream`` for bytes. An existing file of the
    same key is replaced.
    """
    key = None if obj is None else _key_of(obj)
    if isinstance(data, str):
        body = data.encode("utf-8")
        content_type = content_type or "text/plain; charset=utf-8"
    elif isinstance(data, (bytes, bytearray, memoryview)):
        body = bytes(data)
        content_type = content_type or "application/octet-stream"
    else:
        raise TypeError(f"write_s3_file takes bytes or str data, got {type(data).__name__}")
    what = "writing " + (repr(key) if key is not None else "a new file")
    answer = _request(what, _helper_url("upload_s3_file", key), "POST", body, content_type)
    import json

    return S3Object(s3=json.loads(answer)["file_key"])


def get_resume_urls(approver=None):
    """The URLs that resume or cancel the flow this step belongs to, once the
    step ends (a step with ``suspend``): ``{"approvalPage", "resume", "cancel"}``.

    Send them to whoever must approve (by email, by chat): opening ``resume``
    (or POSTing a JSON payload to it) lets the flow go on, ``cancel`` stops
    it, ``approvalPage`` is a page with both buttons. Each call makes URLs
    with a fresh resume id; ``approver`` names who the URLs are for.
    """
    import json
    import random
    from urllib.parse import quote

    base = get_base_url().rstrip("/")
    rid = random.randrange(0, 2**32)
    url = f"{base}/api/w/{quote(get_workspace(), safe='')}/jobs/resume_urls/{quote(get_job_id(), safe='')}/{rid}"
    if approver:
        url += "?approver=" + quote(approver, safe="")
    return json.loads(_request("getting the resume URLs", url, "GET"))


def _object_url(kind, action, path=None):
    from urllib.parse import quote

    base = get_base_url().rstrip("/")
    url = f"{base}/api/w/{quote(get_workspace(), safe='')}/{kind}/{action}"
    if path is not None:
        url += "/" + quote(path, safe="/")
    return url


def _json_request(what, url, method, body=None):
    import json

    data = None if body is None else json.dumps(body).encode()
    answer = _request(what, url, method, data, "application/json" if data is not None else None)
    if method != "GET":
        return None
    return json.loads(answer) if answer else None


def _exists(kind, path):
    return _json_request(f"checking the {kind[:-1]} {path!r}", _object_url(kind, "exists", path), "GET")


def get_variable(path):
    """The value of the variable at ``path`` (a secret one in clear).

    The job reads with its user's rights: a variable it may not read raises
    ``OrvantaError`` (404, as if it did not exist).
    """
    return _json_request(f"reading the variable {path!r}", _object_url("variables", "get_value", path), "GET")


def set_variable(path, value, is_secret=None, description=None):
    """Sets the variable at ``path`` to ``value`` (text), creating it if needed.

    ``is_secret`` and ``description`` change those of an existing variable
    only when given; a new one is not secret unless ``is_secret=True``.
    """
    if not isinstance(value, str):
        raise TypeError(f"a variable's value is text, got {type(value).__name__}")
    if _exists("variables", path):
        body = {"value": value}
        if is_secret is not None:
            body["is_secret"] = is_secret
        if description is not None:
            body["description"] = description
        _json_request(f"updating the variable {path!r}", _object_url("variables", "update", path), "POST", body)
    else:
        body = {"path": path, "value": value, "is_secret": bool(is_secret), "description": description or ""}
        _json_request(f"creating the variable {path!r}", _object_url("variables", "create"), "POST", body)


def get_resource(path):
    """The value of the resource at ``path``, its ``$var:`` and ``$res:``
    references resolved (with the job's rights)."""
    url = _object_url("resources", "get_value_interpolated", path)
    return _json_request(f"reading the resource {path!r}", url, "GET")


def set_resource(path, value, resource_type=None):
    """Sets the value of the resource at ``path``, creating it (of
    ``resource_type``, required then) if needed."""
    if _exists("resources", path):
        body = {"value": value}
        _json_request(f"updating the resource {path!r}", _object_url("resources", "update_value", path), "POST", body)
    elif resource_type is None:
        raise OrvantaError(f"there is no resource at {path!r}: pass resource_type to create it")
    else:
        body = {"path": path, "value": value, "resource_type": resource_type}
        _json_request(f"creating the resource {path!r}", _object_url("resources", "create"), "POST", body)
