"""Orvanta's client library for Python scripts.

Orvanta puts this package on the ``PYTHONPATH`` of every Python job, so a
script can ``import orvanta``. It reads the job's context from the
environment Orvanta sets (``ORVANTA_BASE_URL``, ``ORVANTA_WORKSPACE``,
``ORVANTA_JOB_ID``, ``ORVANTA_TOKEN``).

Importing it stays cheap on purpose (no ``typing``, no HTTP client at import
time): every job pays for it.
"""

import os as _os

__all__ = [
    "S3Object",
    "get_base_url",
    "get_job_id",
    "get_token",
    "get_workspace",
]


class S3Object(dict):
    """A file in the workspace's object storage: ``{"s3": "<key>"}``.

    Uploaded files reach a script as plain dicts of this shape; annotate a
    parameter with ``S3Object`` to say it takes one. Being a ``dict``, an
    ``S3Object`` serialises to JSON as is, so returning one works too.
    """

    def __init__(self, s3=None, **extra):
        if s3 is None:
            raise TypeError("S3Object needs the object's key: S3Object(s3='path/to/file')")
        super().__init__(s3=s3, **extra)

    @property
    def key(self):
        """The object's key in the workspace storage."""
        return self["s3"]


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
