// A client not written in Python: proves the sidecar's proto works from Node.
//
//   node client.js 127.0.0.1:50051 < requests.json
//
// stdin: a JSON array of {"label", "stage", "policy", "request"}, the request
// in the shape Engine.check takes (input/output {text, context}; retrieval
// {chunks, context}; tool_call {tool, args, principal, context}; tool_result
// {tool, result, args, principal, context}; any of them with session and at).
// stdout: one JSON line per request, in order: {"label", "decision", "slices"}
// with the decision in the Python Decision's JSON shape and, for text checks,
// each span's value cut out of the text with JavaScript's own string indices
// (the UTF-16 offsets), or {"label", "error": {code, details, reason,
// metadata, retry_after}} with the ErrorInfo and RetryInfo the sidecar sent.
// Then one line {"label": "ListPolicies", "policies": [...]}.
"use strict";

const path = require("path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");
const protobuf = require("protobufjs");

const PROTO = path.resolve(__dirname, "../../proto/guardrails/v1/guardrails.proto");

// protobufjs, like protoc, stops at 100 nested messages: a JSON value in a
// Struct costs three per level, so about 33 levels. The engine takes 64, so
// raise the limit to 3 * 64 plus the messages around the value.
protobuf.util.recursionLimit = 256;
protobuf.Reader.recursionLimit = 256;

const definition = protoLoader.loadSync(PROTO, {
  keepCase: true, // field names as written in the .proto (snake_case)
  longs: Number,
  enums: String,
  defaults: false, // unset optional fields stay absent
  oneofs: true, // a virtual field names the member of each oneof that is set
});
const v1 = grpc.loadPackageDefinition(definition).guardrails.v1;

// ---- google.rpc.Status in the grpc-status-details-bin trailer --------------
// The three messages a refusal's details need, declared here from their
// published field numbers (google/rpc/status.proto, error_details.proto).

const rpc = protobuf.parse(`
  syntax = "proto3";
  package google.rpc;
  message Any { string type_url = 1; bytes value = 2; }
  message Status { int32 code = 1; string message = 2; repeated Any details = 3; }
  message ErrorInfo { string reason = 1; string domain = 2; map<string, string> metadata = 3; }
  message Duration { int64 seconds = 1; int32 nanos = 2; }
  message RetryInfo { Duration retry_delay = 1; }
`, { keepCase: true }).root;
const Status = rpc.lookupType("google.rpc.Status");
const ErrorInfo = rpc.lookupType("google.rpc.ErrorInfo");
const RetryInfo = rpc.lookupType("google.rpc.RetryInfo");

function errorDetails(err) {
  const out = { reason: "", metadata: {}, retry_after: null };
  const raw = err.metadata && err.metadata.get("grpc-status-details-bin")[0];
  if (!raw) return out;
  for (const any of Status.decode(raw).details || []) {
    if (any.type_url.endsWith("/google.rpc.ErrorInfo")) {
      const info = ErrorInfo.decode(any.value);
      out.reason = info.reason;
      out.metadata = info.metadata || {};
    } else if (any.type_url.endsWith("/google.rpc.RetryInfo")) {
      const d = RetryInfo.decode(any.value).retry_delay || {};
      out.retry_after = Number(d.seconds || 0) + (d.nanos || 0) / 1e9;
    }
  }
  return out;
}

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
  if (stage === "output" && r.sources) {
    // a string or {text, id, metadata}; an empty id is the position, from 1
    msg.sources = r.sources.map((s) => {
      const src = typeof s === "string" ? { text: s } : s;
      const out = { text: src.text, id: src.id === undefined || src.id === null ? "" : String(src.id) };
      if (src.metadata) out.metadata = toStruct(src.metadata);
      return out;
    });
  }
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

// Each span of a text check, cut out of the request's text by its UTF-16
// offsets: String.prototype.slice counts UTF-16 code units.
function slices(request, d) {
  if (typeof request.text !== "string") return [];
  const out = [];
  for (const v of d.violations || []) {
    for (const s of v.spans || []) {
      if (s.field === undefined && s.start_utf16 !== undefined) out.push(request.text.slice(s.start_utf16, s.end_utf16));
    }
  }
  return out;
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
      ? { label: item.label, error: { code: grpc.status[err.code], details: err.details, ...errorDetails(err) } }
      : { label: item.label, decision: plainDecision(resp), slices: slices(item.request, resp) };
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
