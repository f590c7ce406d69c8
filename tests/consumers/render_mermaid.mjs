// Renders Mermaid files with Mermaid itself in headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core). Prints one JSON object per
// file: {file, error, text, labels, fill}, where text is what the drawing
// shows, labels the text of each node, group and link label, and fill the
// colour the first node is filled with (what the theme made of it). With
// OUT_DIR set, writes each drawing as OUT_DIR/<name>.svg.
// Usage: node render_mermaid.mjs FILE...
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const bundle = fs.readFileSync(path.join(here, 'node_modules/mermaid/dist/mermaid.min.js'), 'utf8');
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'wio-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = context.pages()[0] || (await context.newPage());
  await page.setContent('<!doctype html><html><head><meta charset="utf-8"></head><body><div id="out"></div></body></html>');
  await page.addScriptTag({ content: bundle });
  await page.evaluate(() => mermaid.initialize({ startOnLoad: false, securityLevel: 'strict' }));
  let n = 0;
  for (const file of process.argv.slice(2)) {
    const source = fs.readFileSync(file, 'utf8');
    const result = await page.evaluate(async ({ source, id }) => {
      try {
        const { svg } = await mermaid.render(id, source);
        const holder = document.getElementById('out');
        holder.innerHTML = svg;
        const shape = holder.querySelector('g.node .label-container, g.node circle, g.node rect');
        const fill = shape ? getComputedStyle(shape).fill : null;
        const labels = [...holder.querySelectorAll('span.nodeLabel, span.edgeLabel')]
          .map((label) => label.textContent).filter((label) => label !== '');
        holder.querySelectorAll('style').forEach((style) => style.remove());
        const text = holder.textContent;
        holder.innerHTML = '';
        return { error: null, text, labels, fill, svg };
      } catch (err) {
        return { error: String(err.message || err), text: '', labels: [], fill: null, svg: null };
      }
    }, { source, id: `chart${n++}` });
    if (process.env.OUT_DIR && result.svg) {
      fs.writeFileSync(path.join(process.env.OUT_DIR, path.basename(file).replace(/\.mmd$/, '.svg')), result.svg);
    }
    delete result.svg;
    console.log(JSON.stringify({ file, ...result }));
  }
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
