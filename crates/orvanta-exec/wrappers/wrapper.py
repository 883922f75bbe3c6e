# Orvanta's Python wrapper: runs `main` from main.py. Run as a module, so
# that its bytecode is compiled once (Orvanta compiles it at start; jobs
# cannot write it): `python3 -c "import orvanta_wrapper as w; w.run()" <script dir>`
# for one job, `... w.serve() ...` for a warm process that runs many.
#
# Contract with crates/orvanta-exec/src/run (keep both sides in step):
# - main.py is in the folder given as the first argument; the job folder
#   (read-only in the sandbox) is the second; the working directory is where
#   the job may write (the sandbox's /tmp);
# - one job (`run`): the job folder holds args.json (a JSON object: keyword
#   arguments for main, already checked against the signature) and out.fifo
#   (the result channel, opened by Orvanta first);
# - a warm process (`serve`, see crates/orvanta-exec/src/run/warm.rs): the
#   job folder holds in.fifo, where each job comes as one JSON line {"job",
#   "token", "call": <args object>, "end": <marker>}, and out.fifo; main.py is
#   imported once, at the first job; before each job the working directory
#   is reset; after it, the wrapper writes the end marker to stdout; a line
#   {"warmup": true, "end"} (a successor started ahead) only writes the end
#   marker: the interpreter is up;
# - one JSON object per line goes to out.fifo: {"stream": "<chunk>"} for each
#   value a generator yields, then {"result": <value>} or {"error": {...}};
# - stdout and stderr are the job's logs, nothing is parsed from them but the
#   end marker of a warm process.
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


def _exit_code(exc):
    code = exc.code if isinstance(exc, SystemExit) else 130
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def run():
    """One job: the job folder's args.json, then exit."""
    job_dir = sys.argv[2] if len(sys.argv) > 2 else os.getcwd()
    # Opened before main runs: main may change the working directory.
    fd = os.open(os.path.join(job_dir, "out.fifo"), os.O_WRONLY)
    with open(os.path.join(job_dir, "args.json"), "rb") as f:
        args = json.loads(f.read())
    # main.py is in the folder named after `-c` (by the script's hash, so that
    # its bytecode is compiled once per version).
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


def _requests(fd):
    """The lines of the request FIFO, as they come."""
    pending = b""
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if line.strip():
                yield line


def _write_all(fd, data):
    while data:
        data = data[os.write(fd, data) :]


def serve():
    """A warm process: many jobs of one script version, one at a time.
    Module-level state of the script persists between them, as in AWS Lambda."""
    home = os.getcwd()
    job_dir = sys.argv[2] if len(sys.argv) > 2 else home
    # The job's environment is the same as in a process of its own.
    os.environ.pop("ORVANTA_WARM", None)
    out = os.open(os.path.join(job_dir, "out.fifo"), os.O_WRONLY)
    requests = os.open(os.path.join(job_dir, "in.fifo"), os.O_RDONLY)
    sys.path[0] = sys.argv[1] if len(sys.argv) > 1 else home
    main = None
    for line in _requests(requests):
        request = json.loads(line)
        if request.get("warmup"):
            # A successor's first line: the interpreter is up. The script is
            # imported by the first job, with its variables, as always.
            _write_all(1, request["end"].encode())
            continue
        os.environ["ORVANTA_JOB_ID"] = request["job"]
        os.environ["ORVANTA_TOKEN"] = request["token"]
        os.chdir(home)
        try:
            if main is None:
                # A failed import leaves no module behind: the next job tries again.
                from main import main
            result = _settle(out, main(**request["call"]))
            _send(out, {"result": result})
        except (SystemExit, KeyboardInterrupt) as exc:
            # The job ends the process, as it would a process of its own.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(_exit_code(exc))
        except BaseException as exc:  # noqa: BLE001 - every failure is the job's result
            _send(out, {"error": _error(exc)})
        sys.stdout.flush()
        sys.stderr.flush()
        _write_all(1, request["end"].encode())
