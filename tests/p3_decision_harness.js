// Runs the P3 workflow's decision half WITHOUT n8n: its "Ask the LLM" request (the node's own jsonBody
// expression, POSTed to MODEL_URL with its timeout, errors continuing as n8n's onError does) and then its
// Code node, fed as n8n feeds it. Used when n8n is not installed; with LAB_N8N=1 the tests run the real n8n.
// usage: node p3_decision_harness.js <workflow.json> <alert-body.json> <model-url> [timeout-ms] [alerts]
// handles [alerts] (default 1) alerts one after another; prints the Code node's decisions per alert as JSON.
"use strict";
const fs = require("fs");

async function main() {
  const [workflowPath, alertPath, modelUrl, timeoutArg, alertsArg] = process.argv.slice(2);
  const wf = JSON.parse(fs.readFileSync(workflowPath, "utf8"));
  const webhook = { body: JSON.parse(fs.readFileSync(alertPath, "utf8")) };
  const ask = wf.nodes.find((n) => n.name === "Ask the LLM");
  const code = wf.nodes.find((n) => n.type === "n8n-nodes-base.code").parameters.jsCode;
  const timeout = Number(timeoutArg || ask.parameters.options.timeout);
  const out = [];
  for (let i = 0; i < Number(alertsArg || 1); i++) out.push(await decide(webhook, ask, code, modelUrl, timeout));
  process.stdout.write(JSON.stringify(out));
}

async function decide(webhook, ask, code, modelUrl, timeout) {
  // the node's body is an n8n expression "={{ ... }}" over $json (the webhook's item)
  const expression = ask.parameters.jsonBody.replace(/^=\{\{/, "").replace(/\}\}$/, "");
  const body = new Function("$json", `return (${expression});`)(webhook);

  let item;
  try {
    const res = await fetch(`${modelUrl}/api/generate`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body,
      signal: AbortSignal.timeout(timeout),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    try { item = JSON.parse(text); } catch (e) { item = { data: text }; } // n8n's autodetect: text → {data}
    if (item === null || typeof item !== "object" || Array.isArray(item)) item = { data: item };
  } catch (e) {
    item = { error: { message: String(e && e.message) } }; // onError: continueRegularOutput
  }
  const $input = { all: () => [{ json: item }] };
  const $ = () => ({ first: () => ({ json: webhook }) });
  const run = new Function("$input", "$", code);
  return run($input, $).map((x) => x.json);
}

main().catch((e) => { console.error(e); process.exit(1); });
