// Validates monitoring.coreos.com objects against the Prometheus Operator's CRD schemas, as an
// API server with strict field validation would: the CRD's openAPIV3Schema (types, enums,
// patterns, required fields) and no field the schema does not declare.
//
// The schemas come from @kubernetes-models/prometheus-operator, generated from the CRDs that the
// Prometheus Operator publishes with each release (package.json's "crd-generate" input names the
// release) and compiled into validators. Those validators let undeclared fields through, as the
// JSON Schema of a CRD does (the API server prunes or refuses them instead), so every object is
// handed to them behind a proxy that records which fields they look up: a field present in an
// object whose schema declares properties, that the validator never looked up, is unknown. An
// object whose keys the validator walks is a map (additionalProperties), and one whose fields it
// never looks up declares none (x-kubernetes-preserve-unknown-fields): both keep every field.
//
// stdin: a JSON array of objects. stdout: a JSON array, for each object the list of its problems
// (empty when valid). `node validate.mjs --about` prints what the schemas were generated from.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";

const MODELS = [ServiceMonitor, PrometheusRule];

function about() {
  const require = createRequire(import.meta.url);
  const pkg = require("@kubernetes-models/prometheus-operator/package.json");
  return {
    package: `${pkg.name}@${pkg.version}`,
    generatedFrom: pkg["crd-generate"]?.input ?? [],
    kinds: MODELS.map((model) => `${model.apiVersion} ${model.kind}`),
  };
}

function pointer(path) {
  return path.length ? `/${path.join("/")}` : "";
}

// A copy of `value` whose objects report to `objects` which of their fields were looked up.
function watched(value, path, objects) {
  if (value === null || typeof value !== "object") {
    return value;
  }
  if (Array.isArray(value)) {
    return new Proxy(
      value.map((item, index) => watched(item, [...path, index], objects)),
      {},
    );
  }
  const seen = { path, keys: Object.keys(value), read: new Set(), walked: false };
  objects.push(seen);
  const copy = {};
  for (const [key, item] of Object.entries(value)) {
    copy[key] = watched(item, [...path, key], objects);
  }
  return new Proxy(copy, {
    get(target, key, receiver) {
      if (typeof key === "string") seen.read.add(key);
      return Reflect.get(target, key, receiver);
    },
    has(target, key) {
      if (typeof key === "string") seen.read.add(key);
      return Reflect.has(target, key);
    },
    getOwnPropertyDescriptor(target, key) {
      if (typeof key === "string") seen.read.add(key);
      return Reflect.getOwnPropertyDescriptor(target, key);
    },
    ownKeys(target) {
      seen.walked = true;
      return Reflect.ownKeys(target);
    },
  });
}

function problems(obj) {
  const model = MODELS.find((m) => obj?.apiVersion === m.apiVersion && obj?.kind === m.kind);
  if (!model) {
    return [`no CRD schema for apiVersion ${obj?.apiVersion} kind ${obj?.kind}`];
  }
  const objects = [];
  const found = [];
  try {
    // The model's own validate(), run on the watched copy instead of a model instance.
    model.prototype.validate.call(watched(obj, [], objects));
  } catch (err) {
    for (const e of err.errors ?? [{ instancePath: "", message: err.message }]) {
      found.push(`${e.instancePath || "/"}: ${e.message}`);
    }
  }
  for (const seen of objects) {
    if (seen.walked || seen.read.size === 0) continue;
    for (const key of seen.keys.filter((k) => !seen.read.has(k))) {
      found.push(`${pointer(seen.path) || "/"}: unknown field "${key}"`);
    }
  }
  return found;
}

if (process.argv.includes("--about")) {
  process.stdout.write(JSON.stringify(about()));
} else {
  const input = JSON.parse(readFileSync(0, "utf8"));
  process.stdout.write(JSON.stringify(input.map(problems)));
}
