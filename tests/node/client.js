// A client not written in Python: proves the sidecar's proto works from Node.
//
//   node client.js 127.0.0.1:50051 < requests.json
//
// stdin: a JSON array of {"label", "stage", "policy", "request"}, the request
// in the shape Engine.check takes (input/output {text, context}; retrieval
// {chunks, context}; tool_call {tool, args, principal, context}; tool_result
// {tool, result, args, principal, context}; any of them with session and at).
// stdout: one JSON line per request, in order: {"label", "decision"} with the
// decision in the Python Decision's JSON shape, or {"label", "error": {code,
// details}}. Then one line {"label": "ListPolicies", "policies": [...]}.
"use strict";

const path = require("path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const PROTO = path.resolve(__dirname, "../../proto/guardrails/v1/guardrails.proto");

const definition = protoLoader.loadSync(PROTO, {
  keepCase: true, // field names as written in the .proto (snake_case)
  longs: Number,
  enums: String,
  defaults: false, // unset optional fields stay absent
  oneofs: true, // a virtual field names the member of each oneof that is set
});
const v1 = grpc.loadPackageDefinition(definition).guardrails.v1;

// ---- google.protobuf.Struct <-> plain JSON values --------------------------
// proto-loader takes the well-known types from protobufjs, whose field names
// are camelCase (numberValue) whatever keepCase says; our own messages keep
// the .proto's snake_case.

function toValue(v) {
  if (v === null || v === undefined) return { nullValue: "NULL_VALUE" };
  if (typeof v === "boolean") return { boolValue: v };
  if (typeof v === "number") return { numberValue: v };
  if (typeof v === "string") return { stringValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  return { structValue: toStruct(v) };
}

function toStruct(obj) {
  const fields = {};
  for (const [k, v] of Object.entries(obj)) fields[k] = toValue(v);
  return { fields };
}

function fromValue(v) {
  switch (v.kind) {
    case "numberValue": return v.numberValue;
    case "stringValue": return v.stringValue;
    case "boolValue": return v.boolValue;
    case "structValue": return fromStruct(v.structValue);
    case "listValue": return (v.listValue.values || []).map(fromValue);
    default: return null;
  }
}

function fromStruct(s) {
  const out = {};
  for (const [k, v] of Object.entries((s && s.fields) || {})) out[k] = fromValue(v);
  return out;
}

// ---- requests and decisions -------------------------------------------------

const METHODS = {
  input: "CheckInput", output: "CheckOutput", retrieval: "CheckRetrieval", tool_call: "CheckToolCall",
  tool_result: "CheckToolResult",
};

function buildRequest(stage, policy, r) {
  const msg = { policy: policy || "" };
  if (r.context) msg.context = toStruct(r.context);
  if (r.session) msg.session = r.session;
  if (r.at) msg.at = r.at;
  if (stage === "input" || stage === "output") msg.text = r.text;
  if (stage === "retrieval") {
    msg.chunks = r.chunks.map((c) => {
      const chunk = typeof c === "string" ? { text: c } : c;
      const out = { text: chunk.text };
      if (chunk.metadata) out.metadata = toStruct(chunk.metadata);
      return out;
    });
  }
  if (stage === "tool_result") msg.result = toValue(r.result);
  if (stage === "tool_call" || stage === "tool_result") {
    msg.tool = r.tool;
    if (r.args) msg.args = toStruct(r.args);
    if (r.principal) msg.principal = toStruct(r.principal);
  }
  return msg;
}

const lower = (prefix, value) => value.slice(prefix.length).toLowerCase();
const opt = (obj, key) => (obj[key] === undefined ? null : obj[key]);

function plainDecision(d) {
  const stage = lower("STAGE_", d.stage);
  let text = null;
  if (d.forwarded === "text") text = d.text;
  else if (d.forwarded === "args") text = fromStruct(d.args);
  else if (d.forwarded === "result") text = fromValue(d.result);
  else if (d.forwarded === "chunks_forwarded") {
    text = (d.chunks_forwarded.chunks || []).map((c) => ({ text: c.text, metadata: fromStruct(c.metadata) }));
  }
  return {
    stage,
    outcome: lower("OUTCOME_", d.outcome),
    text,
    violations: (d.violations || []).map((v) => ({
      rule: v.rule,
      effect: lower("EFFECT_", v.effect),
      message: opt(v, "message"),
      route: opt(v, "route"),
      spans: (v.spans || []).map((s) => ({
        start: s.start || 0, end: s.end || 0, entity: s.entity, score: s.score || 0, field: opt(s, "field"),
      })),
      error: opt(v, "error"),
      chunk: opt(v, "chunk"),
      location: opt(v, "location"),
    })),
    policy: d.policy,
    errors: (d.errors || []).map((e) => ({ rule: opt(e, "rule"), code: e.code, message: e.message })),
    route: opt(d, "route"),
    chunks: stage === "retrieval"
      ? (d.chunks || []).map((c) => ({
        index: c.index || 0, outcome: lower("OUTCOME_", c.outcome), text: opt(c, "text"),
        metadata: fromStruct(c.metadata),
      }))
      : null,
    labels: d.labels || [],
    session: opt(d, "session"),
  };
}

function call(client, method, msg) {
  return new Promise((resolve) => {
    const deadline = new Date(Date.now() + 10000);
    client[method](msg, { deadline }, (err, resp) => resolve({ err, resp }));
  });
}

async function main() {
  const target = process.argv[2];
  if (!target) {
    process.stderr.write("usage: node client.js HOST:PORT < requests.json\n");
    process.exit(2);
  }
  const requests = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const client = new v1.Guardrails(target, grpc.credentials.createInsecure());
  for (const item of requests) {
    const { err, resp } = await call(client, METHODS[item.stage], buildRequest(item.stage, item.policy, item.request));
    const line = err
      ? { label: item.label, error: { code: grpc.status[err.code], details: err.details } }
      : { label: item.label, decision: plainDecision(resp) };
    process.stdout.write(JSON.stringify(line) + "\n");
  }
  const { err, resp } = await call(client, "ListPolicies", {});
  if (err) throw err;
  const policies = (resp.active.policies || []).map((p) => `${p.name}@${p.version}`);
  process.stdout.write(JSON.stringify({ label: "ListPolicies", policies }) + "\n");
  client.close();
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + "\n");
  process.exit(1);
});
