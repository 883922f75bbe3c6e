// Drives Orvanta's flow routes with Windmill's published TypeScript client
// (`windmill-client` on npm), unchanged: FlowService to create and read a
// flow, runFlow / runFlowAsync / getResult to run it. Prints one JSON object
// of what it saw; the Rust test (tests/it/windmill_clients.rs) checks it.
//
// Usage: node windmill_client_flows.mjs BASE_URL TOKEN WORKSPACE
import * as wmill from "windmill-client";

const [base, token, ws] = process.argv.slice(2);
process.env.WM_WORKSPACE = ws;
wmill.setClient(token, base);
const seen = {};

const requestBody = {
  path: "u/admin/wm_ts_flow",
  summary: "made by windmill-client",
  value: {
    modules: [{
      id: "a",
      value: {
        type: "rawscript",
        language: "bun",
        content: "export function main(x: number) { return { doubled: x * 2 }; }",
        input_transforms: { x: { type: "javascript", expr: "flow_input.x" } },
      },
    }],
  },
  schema: { type: "object", properties: { x: { type: "number" } }, required: ["x"] },
};
seen.create = await wmill.FlowService.createFlow({ workspace: ws, requestBody });
const flow = await wmill.FlowService.getFlowByPath({ workspace: ws, path: "u/admin/wm_ts_flow" });
seen.summary = flow.summary;
seen.list = (await wmill.FlowService.listFlows({ workspace: ws })).map((f) => f.path);
seen.run = await wmill.runFlow("u/admin/wm_ts_flow", { x: 21 });
const id = await wmill.runFlowAsync("u/admin/wm_ts_flow", { x: 2 });
seen.waited = await wmill.waitJob(id);
seen.result = await wmill.JobService.getCompletedJobResult({ workspace: ws, id });
console.log(JSON.stringify(seen));
