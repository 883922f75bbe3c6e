# Orvanta's Python wrapper: runs `main` from main.py. Run as a module
# (`python3 -c "import orvanta_wrapper" <script dir>`) so that its bytecode is
# cached across jobs under PYTHONPYCACHEPREFIX.
#
# Contract with crates/orvanta-exec/src/run (keep both sides in step):
# - the working directory is the job directory; main.py is in the folder
#   given as the first argument; the job directory holds args.json
#   (a JSON object: keyword arguments for main, already checked against the
#   signature) and out.fifo (the result channel, opened by Orvanta first);
# - one JSON object per line goes to out.fifo: {"stream": "<chunk>"} for each
#   value a generator yields, then {"result": <value>} or {"error": {...}};
# - stdout and stderr are the job's logs, nothing is parsed from them.
#
# Every job pays for this file's start-up, so it imports nothing beyond what
# Python has loaded anyway plus json; asyncio, base64 and traceback are imported
# only when a job needs them.

import json
import os
import sys


def _send(fd, message):
    data = (json.dumps(message, default=_to_json, allow_nan=False) + "\n").encode()
    # A blocking pipe write may still be cut short by a signal: finish it.
    while data:
        data = data[os.write(fd, data) :]


def _to_json(value):
    # Decided here, documented in the run module: bytes travel as base64 text,
    # sets as lists, dates as ISO 8601, anything else as its str().
    if isinstance(value, (bytes, bytearray, memoryview)):
        import base64

        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (set, frozenset)):
        return list(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _chunk(value):
    return value if isinstance(value, str) else json.dumps(value, default=_to_json)


def _await(awaitable):
    import asyncio

    async def wait():
        return await awaitable

    return asyncio.run(wait())


def _drain_async(fd, agen):
    import asyncio

    async def drain():
        async for item in agen:
            _send(fd, {"stream": _chunk(item)})

    asyncio.run(drain())


def _settle(fd, result):
    """Turns what main returned into the final value, streaming what it yields."""
    if hasattr(result, "__await__"):
        result = _await(result)
    if hasattr(result, "__anext__"):
        # An async generator cannot return a value: the result is null.
        _drain_async(fd, result)
        return None
    if hasattr(result, "__next__") and hasattr(result, "send"):
        while True:
            try:
                item = next(result)
            except StopIteration as stop:
                return stop.value
            _send(fd, {"stream": _chunk(item)})
    return result


def _error(exc):
    import traceback

    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__
    ]
    stack = "".join(
        ["Traceback (most recent call last):\n"]
        + traceback.format_list(frames)
        + traceback.format_exception_only(type(exc), exc)
    )
    return {"name": type(exc).__name__, "message": str(exc), "stack": stack}


def _run():
    job_dir = os.getcwd()
    # Opened before main runs: main may change the working directory.
    fd = os.open(os.path.join(job_dir, "out.fifo"), os.O_WRONLY)
    with open(os.path.join(job_dir, "args.json"), "rb") as f:
        args = json.loads(f.read())
    # main.py is in the folder named after `-c "import orvanta_wrapper"` (by
    # the script's hash, so that its bytecode is cached once per version);
    # the job directory stays the working directory.
    sys.path[0] = sys.argv[1] if len(sys.argv) > 1 else job_dir
    try:
        from main import main

        result = _settle(fd, main(**args))
        _send(fd, {"result": result})
    except (SystemExit, KeyboardInterrupt):
        # sys.exit(n) means exit code n, which Orvanta reports as such.
        raise
    except BaseException as exc:  # noqa: BLE001 - every failure is the job's result
        _send(fd, {"error": _error(exc)})
        sys.exit(1)


_run()
