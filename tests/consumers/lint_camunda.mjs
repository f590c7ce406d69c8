// Loads BPMN files with bpmn-moddle and Zeebe's extension, and lints them
// with bpmnlint-plugin-camunda-compat's rules for a Camunda 8 version (what
// Camunda Modeler checks before deploying to Zeebe). Prints one JSON object
// per file: {file, warnings, reports, error}.
// Usage: CAMUNDA=8.8 node lint_camunda.mjs FILE...
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { BpmnModdle } from 'bpmn-moddle'; // v10: a named export
const require = createRequire(import.meta.url);
const { Linter } = require('bpmnlint');
const NodeResolver = require('bpmnlint/lib/resolver/node-resolver');
const zeebe = require('zeebe-bpmn-moddle/resources/zeebe.json');

const profile = `plugin:camunda-compat/camunda-cloud-${(process.env.CAMUNDA || '8.8').replace('.', '-')}`;
for (const file of process.argv.slice(2)) {
  const result = { file, warnings: [], reports: [], error: null };
  // A moddle and a linter per file: both remember what they have seen.
  const moddle = new BpmnModdle({ zeebe });
  const linter = new Linter({ config: { extends: profile }, resolver: new NodeResolver({ require }) });
  try {
    const { rootElement, warnings } = await moddle.fromXML(fs.readFileSync(file, 'utf8'), 'bpmn:Definitions');
    result.warnings = warnings.map((w) => w.message);
    for (const [rule, reports] of Object.entries(await linter.lint(rootElement))) {
      for (const r of reports) result.reports.push({ rule, category: r.category, id: r.id || null, message: r.message });
    }
  } catch (err) {
    result.error = String(err.message || err);
  }
  console.log(JSON.stringify(result));
}
