// Orvanta's TypeScript wrapper, one file for Deno and Bun: runs the script's
// exported `main`.
//
// Contract with crates/orvanta-exec/src/run (keep both sides in step):
// - the working directory is the job directory; it holds args.json and
//   out.fifo (the result channel, opened by Orvanta first);
// - args.json is {"main": path of the script's file, "params": [names of
//   main's parameters, in order], "extra": bool, "args": {name: value}}: the
//   script (kept outside the job directory, at a path per content, so that
//   Deno's transpile cache serves every run of it) is imported, and main is
//   called with the values in
//   parameter order (undefined for an absent one, so its default applies) and,
//   when `extra` is true, one more argument: an object of the arguments that
//   no parameter names;
// - one JSON object per line goes to out.fifo: {"stream": "<chunk>"} for each
//   value an async iterable yields, then {"result": <value>} or {"error": {...}};
// - stdout and stderr are the job's logs, nothing is parsed from them.
//
// Deno's own APIs in Deno: its Node compatibility layer costs ~25 ms to load
// and every job would pay for it. Node's APIs in Bun, where they are native.

type Io = {
  jobDir: string;
  readText(path: string): string;
  openWrite(path: string): (data: Uint8Array, offset: number) => number;
  fail(): void;
};

// deno-lint-ignore no-explicit-any
const deno = (globalThis as any).Deno;
const io: Io = deno
  ? {
    jobDir: deno.cwd(),
    readText: (path) => deno.readTextFileSync(path),
    openWrite(path) {
      const file = deno.openSync(path, { write: true });
      return (data, offset) => file.writeSync(data.subarray(offset));
    },
    fail() {
      deno.exitCode = 1;
    },
  }
  : await (async () => {
    const fs = await import("node:fs");
    // deno-lint-ignore no-explicit-any
    const process = (globalThis as any).process;
    return {
      jobDir: process.cwd(),
      readText: (path: string) => fs.readFileSync(path, "utf8"),
      openWrite(path: string) {
        const fd = fs.openSync(path, "w");
        return (data: Uint8Array, offset: number) => fs.writeSync(fd, data, offset);
      },
      fail() {
        process.exitCode = 1;
      },
    };
  })();

type Call = { main: string; params: string[]; extra: boolean; args: Record<string, unknown> };

const jobDir = io.jobDir;
// Opened before main runs: main may change the working directory.
const write = io.openWrite(`${jobDir}/out.fifo`);
const encoder = new TextEncoder();

function send(message: unknown): void {
  const data = encoder.encode(JSON.stringify(message) + "\n");
  let done = 0;
  while (done < data.length) {
    done += write(data, done);
  }
}

function chunk(value: unknown): string {
  // JSON.stringify(undefined) is undefined, which JSON cannot carry.
  return typeof value === "string" ? value : (JSON.stringify(value) ?? "null");
}

function isAsyncIterable(value: unknown): value is AsyncIterator<unknown> & AsyncIterable<unknown> {
  return value != null && typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function";
}

function isGenerator(value: unknown): value is Iterator<unknown> {
  // Only generators stream: arrays and strings are iterable too, but are values.
  return (
    value != null &&
    typeof value === "object" &&
    !Array.isArray(value) &&
    typeof (value as Iterator<unknown>).next === "function" &&
    typeof (value as Iterable<unknown>)[Symbol.iterator] === "function"
  );
}

/** Turns what main returned into the final value, streaming what it yields. */
async function settle(value: unknown): Promise<unknown> {
  let iterator: AsyncIterator<unknown> | Iterator<unknown> | undefined;
  if (isAsyncIterable(value)) {
    iterator = value[Symbol.asyncIterator]();
  } else if (isGenerator(value)) {
    iterator = value;
  }
  if (iterator === undefined) {
    return value;
  }
  // Iterated by hand, not with for-await, to keep the generator's return value.
  while (true) {
    const step = await iterator.next();
    if (step.done) {
      return step.value;
    }
    send({ stream: chunk(step.value) });
  }
}

function describe(error: unknown): Record<string, unknown> {
  if (error instanceof Error) {
    return { name: error.name, message: error.message, stack: error.stack };
  }
  let message: string;
  try {
    message = typeof error === "string" ? error : (JSON.stringify(error) ?? String(error));
  } catch {
    message = String(error);
  }
  return { name: "Error", message };
}

try {
  const call: Call = JSON.parse(io.readText(`${jobDir}/args.json`));
  const url = new URL("file:///");
  url.pathname = call.main;
  const mod = await import(url.href);
  if (typeof mod.main !== "function") {
    throw new TypeError("the script does not export a function named main");
  }
  const args: unknown[] = call.params.map((name) =>
    Object.hasOwn(call.args, name) ? call.args[name] : undefined
  );
  if (call.extra) {
    const declared = new Set(call.params);
    args.push(Object.fromEntries(Object.entries(call.args).filter(([name]) => !declared.has(name))));
  }
  const result = await settle(await mod.main(...args));
  send({ result: result === undefined ? null : result });
} catch (error) {
  send({ error: describe(error) });
  io.fail();
}
