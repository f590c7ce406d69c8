// Loads BPMN files with bpmn-moddle and lints them with bpmnlint's "recommended"
// rules. Prints one JSON object per file: {file, warnings, reports}.
// Usage: node lint_bpmn.mjs FILE...
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { BpmnModdle } from 'bpmn-moddle'; // v10: a named export
const require = createRequire(import.meta.url);
const { Linter } = require('bpmnlint');
const NodeResolver = require('bpmnlint/lib/resolver/node-resolver');

for (const file of process.argv.slice(2)) {
  const result = { file, warnings: [], reports: [], error: null };
  // A moddle and a linter per file: both remember what they have seen (ids,
  // sequence flows), so files sharing ids would be reported against each other.
  const moddle = new BpmnModdle();
  const linter = new Linter({ config: { extends: 'bpmnlint:recommended' }, resolver: new NodeResolver() });
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
