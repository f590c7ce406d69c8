// Imports and draws BPMN files with bpmn-js in headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core). Prints one JSON object per
// file: {file, error, warnings, drawn, overlaps}. With OUT_DIR set, writes
// each drawing as OUT_DIR/<name>.svg.
// Usage: node draw_bpmn.mjs FILE...
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
  // A closed network: no background traffic, no GPU, no sandbox as root.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = context.pages()[0] || (await context.newPage());
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.setContent(html);
  for (const file of process.argv.slice(2)) {
    const xml = fs.readFileSync(file, 'utf8');
    const result = await page.evaluate(async (xml) => {
      const viewer = new BpmnJS({ container: '#canvas' });
      try {
        const { warnings } = await viewer.importXML(xml);
        viewer.get('canvas').zoom('fit-viewport', 'auto');
        const shapes = viewer.get('elementRegistry').getAll().filter((e) => e.waypoints === undefined
          && !['bpmn:Process', 'label'].includes(e.type) && e.type !== 'bpmn:BoundaryEvent' && e.parent);
        // Two shapes overlap unless one contains the other (a subprocess and its content).
        const inside = (a, b) => a.x >= b.x && a.y >= b.y && a.x + a.width <= b.x + b.width && a.y + a.height <= b.y + b.height;
        const overlaps = [];
        for (let i = 0; i < shapes.length; i++) for (let j = i + 1; j < shapes.length; j++) {
          const a = shapes[i], b = shapes[j];
          const cross = a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
          if (cross && !inside(a, b) && !inside(b, a)) overlaps.push(`${a.id} / ${b.id}`);
        }
        const { svg } = await viewer.saveSVG();
        viewer.destroy();
        return { error: null, warnings: warnings.map((w) => w.message), drawn: shapes.length, overlaps, svg };
      } catch (err) {
        return { error: err.message, warnings: (err.warnings || []).map((w) => w.message), drawn: 0, overlaps: [] };
      }
    }, xml);
    if (process.env.OUT_DIR && result.svg) {
      fs.writeFileSync(path.join(process.env.OUT_DIR, path.basename(file).replace(/\.bpmn$/, '.svg')), result.svg);
    }
    delete result.svg;
    console.log(JSON.stringify({ file, ...result, pageErrors: pageErrors.splice(0) }));
  }
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
