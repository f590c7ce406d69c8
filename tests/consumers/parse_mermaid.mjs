// Parses Mermaid files with Mermaid's own parser, in Node. Mermaid's
// sanitizer needs a DOM, so jsdom's window is installed before mermaid loads.
// Prints one JSON object per file: {file, type, error}.
// Usage: node parse_mermaid.mjs FILE...
import fs from 'node:fs';
import { JSDOM } from 'jsdom';

const { window } = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = window;
globalThis.document = window.document;
const { default: mermaid } = await import('mermaid');
mermaid.initialize({ startOnLoad: false, securityLevel: 'strict' });
for (const file of process.argv.slice(2)) {
  try {
    const { diagramType } = await mermaid.parse(fs.readFileSync(file, 'utf8'));
    console.log(JSON.stringify({ file, type: diagramType, error: null }));
  } catch (err) {
    console.log(JSON.stringify({ file, type: null, error: String(err.message || err) }));
  }
}
