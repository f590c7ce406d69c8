// Audits the layout of BPMN files as bpmn-js draws them in headless Chromium
// (Debian's /usr/bin/chromium, driven by playwright-core): what a reader would
// trip over. Prints one JSON object per file: {file, error, problems}, where
// problems lists, by kind:
// - overlap: two shapes overlap (neither contains the other; boundary events
//   sit on their host's border by design);
// - crossed-label: a flow runs through a label (an event's, a gateway's or a
//   flow's, its own included), or a label covers a shape or another label;
// - overflow: a task's or subprocess's text is drawn outside its shape (and a
//   subprocess's content covering its title counts as a crossed label);
// - default-marker: a gateway's default marker (drawn at the start of the
//   default flow) sits on a segment another flow of the gateway also runs on;
// - through-shape: a flow runs across a shape that is neither its source nor
//   its target, nor a subprocess around either.
// With OUT_DIR set, writes each drawing as OUT_DIR/<name>.svg.
// Usage: node audit_bpmn.mjs FILE...
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, 'node_modules/bpmn-js/dist');
const css = ['assets/diagram-js.css', 'assets/bpmn-js.css'].map((f) => fs.readFileSync(path.join(dist, f), 'utf8')).join('\n');
const html = `<!doctype html><html><head><meta charset="utf-8"><style>${css}
html,body,#canvas{margin:0;width:100%;height:100%;background:#fff}</style>
<script>${fs.readFileSync(path.join(dist, 'bpmn-viewer.production.min.js'), 'utf8')}</script>
</head><body><div id="canvas"></div></body></html>`;

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'wio-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1400, height: 900 },
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = context.pages()[0] || (await context.newPage());
  await page.setContent(html);
  for (const file of process.argv.slice(2)) {
    const xml = fs.readFileSync(file, 'utf8');
    const result = await page.evaluate(async (xml) => {
      const viewer = new BpmnJS({ container: '#canvas' });
      try {
        const { warnings } = await viewer.importXML(xml);
        if (warnings.length) return { error: warnings.map((w) => w.message).join('; '), problems: [] };
        viewer.get('canvas').zoom(1);
        const registry = viewer.get('elementRegistry');
        const all = registry.getAll();
        const problems = [];
        const report = (kind, what) => problems.push({ kind, what });
        const isShape = (e) => e.waypoints === undefined && e.type !== 'label' && e.type !== 'bpmn:Process' && e.parent;
        const shapes = all.filter(isShape);
        const flows = all.filter((e) => e.waypoints !== undefined);
        const labels = all.filter((e) => e.type === 'label' && e.businessObject.name);
        const box = (e) => ({ x: e.x, y: e.y, w: e.width, h: e.height });
        const inside = (a, b) => a.x >= b.x && a.y >= b.y && a.x + a.w <= b.x + b.w && a.y + a.h <= b.y + b.h;
        const meet = (a, b, pad = 0) => a.x + pad < b.x + b.w && b.x + pad < a.x + a.w
          && a.y + pad < b.y + b.h && b.y + pad < a.y + a.h;
        // Whether the segment p-q passes through the inside of box b (shrunk by pad).
        const crosses = (p, q, b, pad = 1) => {
          const x0 = b.x + pad, x1 = b.x + b.w - pad, y0 = b.y + pad, y1 = b.y + b.h - pad;
          if (x0 >= x1 || y0 >= y1) return false;
          if (p.x === q.x) return p.x > x0 && p.x < x1 && Math.max(p.y, q.y) > y0 && Math.min(p.y, q.y) < y1;
          if (p.y === q.y) return p.y > y0 && p.y < y1 && Math.max(p.x, q.x) > x0 && Math.min(p.x, q.x) < x1;
          return false; // the renderer draws only orthogonal segments
        };
        const segments = (f) => f.waypoints.slice(1).map((q, i) => [f.waypoints[i], q]);
        const ancestors = (e) => { const found = []; for (let p = e.parent; p; p = p.parent) found.push(p); return found; };

        for (let i = 0; i < shapes.length; i++) for (let j = i + 1; j < shapes.length; j++) {
          const a = shapes[i], b = shapes[j];
          if (a.host === b || b.host === a) continue;
          if (meet(box(a), box(b)) && !inside(box(a), box(b)) && !inside(box(b), box(a))) report('overlap', `${a.id} / ${b.id}`);
        }
        for (const label of labels) {
          const b = box(label);
          for (const f of flows) {
            if (segments(f).some(([p, q]) => crosses(p, q, b))) report('crossed-label', `${label.labelTarget.id}'s label / ${f.id}`);
          }
          for (const s of shapes) {
            if (s.type === 'bpmn:SubProcess' && inside(b, box(s))) continue;
            if (meet(b, box(s), 1)) report('crossed-label', `${label.labelTarget.id}'s label / ${s.id}`);
          }
          for (const other of labels) {
            if (other !== label && other.id < label.id && meet(b, box(other), 1)) report('crossed-label', `${label.labelTarget.id}'s label / ${other.labelTarget.id}'s label`);
          }
        }
        for (const s of shapes) {
          if (!['bpmn:Task', 'bpmn:ServiceTask', 'bpmn:SubProcess'].includes(s.type)) continue;
          const text = registry.getGraphics(s).querySelector('.djs-visual > text');
          if (!text) continue;
          const t = text.getBBox();
          const b = { x: 0, y: 0, w: s.width, h: s.height };
          if (t.x < b.x - 0.5 || t.y < b.y - 0.5 || t.x + t.width > b.w + 0.5 || t.y + t.height > b.h + 0.5) {
            report('overflow', s.id);
          }
          // A subprocess's title is drawn inside it: none of its content may cover it.
          const title = { x: s.x + t.x, y: s.y + t.y, w: t.width, h: t.height };
          for (const child of s.children || []) {
            if (isShape(child) && !child.host && meet(title, box(child), 1)) report('crossed-label', `${s.id}'s title / ${child.id}`);
          }
        }
        for (const gateway of shapes.filter((s) => s.businessObject.default)) {
          const chosen = registry.get(gateway.businessObject.default.id);
          const [p, q] = chosen.waypoints;
          // bpmn-js draws the marker 10-30 units along the flow's first segment.
          const len = Math.hypot(q.x - p.x, q.y - p.y);
          const at = (d) => ({ x: p.x + (q.x - p.x) * d / len, y: p.y + (q.y - p.y) * d / len });
          const mark = [at(Math.min(10, len)), at(Math.min(30, len))];
          const shared = gateway.outgoing.filter((f) => f !== chosen).some((f) => segments(f).some(([a, b]) => {
            const onLine = (r) => (a.x === b.x && r.x === a.x && r.y >= Math.min(a.y, b.y) && r.y <= Math.max(a.y, b.y))
              || (a.y === b.y && r.y === a.y && r.x >= Math.min(a.x, b.x) && r.x <= Math.max(a.x, b.x));
            return onLine(mark[0]) || onLine(mark[1]);
          }));
          if (shared) report('default-marker', gateway.id);
        }
        for (const f of flows) {
          const ends = [f.source, f.target];
          const around = new Set([...ancestors(f.source), ...ancestors(f.target)]);
          for (const s of shapes) {
            if (ends.includes(s) || around.has(s) || ends.some((e) => e.host === s)) continue;
            if (segments(f).some(([p, q]) => crosses(p, q, box(s)))) report('through-shape', `${f.id} / ${s.id}`);
          }
        }
        const { svg } = await viewer.saveSVG();
        viewer.destroy();
        return { error: null, problems, svg };
      } catch (err) {
        return { error: err.message, problems: [] };
      }
    }, xml);
    if (process.env.OUT_DIR && result.svg) {
      fs.writeFileSync(path.join(process.env.OUT_DIR, path.basename(file).replace(/\.bpmn$/, '.svg')), result.svg);
    }
    delete result.svg;
    console.log(JSON.stringify({ file, ...result }));
  }
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
