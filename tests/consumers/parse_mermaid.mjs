// Parses Mermaid files with Mermaid's own parser, in Node. Mermaid's
// sanitizer needs a DOM, so jsdom's window is installed before mermaid loads.
// Prints one JSON object per file: {file, type, error, vertices, edges,
// subgraphs}, the chart as Mermaid understood it: each node's text and
// classes by id, each link's ends, text and stroke, and each subgraph's title
// and members.
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
    const source = fs.readFileSync(file, 'utf8');
    const { diagramType } = await mermaid.parse(source);
    const { db } = await mermaid.mermaidAPI.getDiagramFromText(source);
    const vertices = Object.fromEntries([...db.getVertices().values()]
      .map((v) => [v.id, { text: v.text, classes: v.classes }]));
    const edges = db.getEdges().map((e) => ({ start: e.start, end: e.end, text: e.text, stroke: e.stroke }));
    const subgraphs = db.getSubGraphs().map((s) => ({ id: s.id, title: s.title, nodes: s.nodes }));
    console.log(JSON.stringify({ file, type: diagramType, error: null, vertices, edges, subgraphs }));
  } catch (err) {
    console.log(JSON.stringify({ file, type: null, error: String(err.message || err) }));
  }
}
