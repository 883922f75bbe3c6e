// Orvanta's TypeScript wrapper, one file for Deno and Bun: runs the script's
// exported `main`.
//
// Contract with crates/orvanta-exec/src/run (keep both sides in step):
// - the job folder, the first argument (read-only in the sandbox), holds
//   args.json and out.fifo (the result channel, opened by Orvanta first); the
//   working directory is where the job may write (the sandbox's /tmp);
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
// - stdout and stderr are the job's logs, nothing is parsed from them;
// - with ORVANTA_WARM=1, a warm process (see crates/orvanta-exec/src/run/warm.rs):
//   the job folder holds in.fifo, where each job comes as one JSON line
//   {"job", "token", "call": <what args.json holds>, "end": <marker>}, and
//   out.fifo; the script is imported once, at the first job; before each job
//   the working directory is reset; after it the end marker goes to stdout;
//   a line {"warmup": true, "end"} (a successor started ahead) only writes
//   the end marker: the runtime is up.
//
// Deno's own APIs in Deno: its Node compatibility layer costs ~25 ms to load
// and every job would pay for it. Bun's own file API in Bun, for the same
// reason (node:fs costs it ~3.5 ms); node:fs only in its warm processes.

type Io = {
  jobDir: string;
  home: string;
  warm: boolean;
  readText(path: string): Promise<string>;
  openWrite(path: string): Writer;
  /** The lines of a FIFO, as they come. */
  lines(path: string): AsyncIterable<string>;
  setEnv(name: string, value: string): void;
  unsetEnv(name: string): void;
  chdir(path: string): void;
  writeStdout(data: Uint8Array, offset: number): number;
  fail(): void;
};

/** A file open for writing: `write` takes what it can (all of it, or the
 * rest is queued), `close` returns once everything is written. */
type Writer = {
  write(data: Uint8Array, offset: number): number;
  close(): Promise<void>;
};

async function* splitLines(chunks: AsyncIterable<Uint8Array>): AsyncIterable<string> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of chunks) {
    pending += decoder.decode(chunk, { stream: true });
    let at: number;
    while ((at = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, at);
      pending = pending.slice(at + 1);
      if (line.trim()) yield line;
    }
  }
}

// deno-lint-ignore no-explicit-any
const deno = (globalThis as any).Deno;
const io: Io = deno
  ? {
    jobDir: deno.args[0] ?? deno.cwd(),
    home: deno.cwd(),
    warm: deno.env.get("ORVANTA_WARM") === "1",
    readText: (path) => deno.readTextFile(path),
    openWrite(path) {
      const file = deno.openSync(path, { write: true });
      return { write: (data, offset) => file.writeSync(data.subarray(offset)), close: async () => {} };
    },
    lines: (path) => splitLines(deno.openSync(path, { read: true }).readable),
    setEnv: (name, value) => deno.env.set(name, value),
    unsetEnv: (name) => deno.env.delete(name),
    chdir: (path) => deno.chdir(path),
    writeStdout: (data, offset) => deno.stdout.writeSync(data.subarray(offset)),
    fail() {
      deno.exitCode = 1;
    },
  }
  : await (async () => {
    // deno-lint-ignore no-explicit-any
    const process = (globalThis as any).process;
    // deno-lint-ignore no-explicit-any
    const bun = (globalThis as any).Bun;
    const warm = process.env.ORVANTA_WARM === "1";
    // Loading node:fs costs Bun ~3.5 ms, a third of its start: a process of
    // its own (one job) uses Bun's own file API; a warm process loads it
    // once, for its synchronous writes to stdout.
    const fs = warm ? await import("node:fs") : undefined;
    return {
      jobDir: process.argv[2] ?? process.cwd(),
      home: process.cwd(),
      warm,
      readText: (path: string) => bun.file(path).text(),
      openWrite(path: string): Writer {
        if (fs) {
          const fd = fs.openSync(path, "w");
          return { write: (data, offset) => fs.writeSync(fd, data, offset), close: async () => {} };
        }
        // Written in order; what the FIFO cannot take at once is queued, and
        // `end` returns once the queue is written.
        const sink = bun.file(path).writer();
        return {
          write(data, offset) {
            sink.write(data.subarray(offset));
            sink.flush();
            return data.length - offset;
          },
          async close() {
            await sink.end();
          },
        };
      },
      lines: (path: string) => splitLines(fs!.createReadStream(path)),
      setEnv(name: string, value: string) {
        process.env[name] = value;
      },
      unsetEnv(name: string) {
        delete process.env[name];
      },
      chdir: (path: string) => process.chdir(path),
      writeStdout: (data: Uint8Array, offset: number) => fs!.writeSync(1, data, offset),
      fail() {
        process.exitCode = 1;
      },
    };
  })();

type Call = { main: string; params: string[]; extra: boolean; args: Record<string, unknown> };

const jobDir = io.jobDir;
// Opened before main runs: main may change the working directory.
const out = io.openWrite(`${jobDir}/out.fifo`);
const encoder = new TextEncoder();

function send(message: unknown): void {
  const data = encoder.encode(JSON.stringify(message) + "\n");
  let done = 0;
  while (done < data.length) {
    done += out.write(data, done);
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

/** Imports the script (unless it is `loaded`) and calls its main with the call's arguments. */
async function call(call: Call, loaded?: Record<string, unknown>): Promise<[unknown, Record<string, unknown>]> {
  let mod = loaded;
  if (mod === undefined) {
    const url = new URL("file:///");
    url.pathname = call.main;
    mod = await import(url.href);
  }
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
  // deno-lint-ignore no-explicit-any
  const result = await settle(await (mod.main as any)(...args));
  return [result === undefined ? null : result, mod];
}

if (!io.warm) {
  try {
    const [result] = await call(JSON.parse(await io.readText(`${jobDir}/args.json`)));
    send({ result });
  } catch (error) {
    send({ error: describe(error) });
    io.fail();
  }
  await out.close();
} else {
  // A warm process: many jobs of one script version, one at a time. The
  // module's state persists between them, as in AWS Lambda.
  let mod: Record<string, unknown> | undefined;
  // The job's environment is the same as in a process of its own.
  io.unsetEnv("ORVANTA_WARM");
  for await (const line of io.lines(`${jobDir}/in.fifo`)) {
    const request = JSON.parse(line);
    // A successor's first line ({"warmup": true}) runs nothing: the end
    // marker says the runtime is up. The script is imported by the first
    // job, with its variables, as always.
    if (!request.warmup) {
      io.setEnv("ORVANTA_JOB_ID", request.job);
      io.setEnv("ORVANTA_TOKEN", request.token);
      io.chdir(io.home);
      try {
        const [result, loaded] = await call(request.call, mod);
        mod = loaded;
        send({ result });
      } catch (error) {
        send({ error: describe(error) });
      }
    }
    // After the job's own output: console writes to a pipe are synchronous.
    const end = encoder.encode(request.end);
    let done = 0;
    while (done < end.length) {
      done += io.writeStdout(end, done);
    }
  }
}
