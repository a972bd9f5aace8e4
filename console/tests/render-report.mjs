// Renders a report's HTML file in headless Chromium to PNG (the whole page) and PDF (A4), and
// fails on any console error, page error or request the page makes (a report is self-contained).
//
//   node tests/render-report.mjs REPORT.html OUT_DIR
//
// Writes OUT_DIR/report.png and OUT_DIR/report.pdf and prints one JSON line:
// {"png": bytes, "pdf": bytes, "pdf_pages": n, "height": px, "charts": n}. Exit 1 with the reason
// otherwise. CHROMIUM overrides /usr/bin/chromium.
import { chromium } from 'playwright-core';
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [file, out] = process.argv.slice(2);
if (!file || !out) {
  console.error('usage: node tests/render-report.mjs REPORT.html OUT_DIR');
  process.exit(2);
}
await mkdir(out, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const problems = [];
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const url = pathToFileURL(path.resolve(file)).href;
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => { if (r.url() !== url) problems.push(`fetched ${r.url()}`); });
  await page.goto(url, { waitUntil: 'load' });
  const { height, charts, title } = await page.evaluate(() => ({
    height: document.documentElement.scrollHeight,
    charts: document.querySelectorAll('svg.chart').length,
    title: document.querySelector('h1')?.textContent || '',
  }));
  if (!title) problems.push('the page has no title (h1)');
  const png = path.join(out, 'report.png');
  const pdf = path.join(out, 'report.pdf');
  await page.screenshot({ path: png, fullPage: true });
  await page.pdf({ path: pdf, format: 'A4', printBackground: true, preferCSSPageSize: true });
  const bytes = await readFile(pdf);
  const text = bytes.toString('latin1');
  const pdfPages = (text.match(/\/Type\s*\/Page[^s]/g) || []).length;
  const result = { png: (await stat(png)).size, pdf: bytes.length, pdf_pages: pdfPages, height, charts, title };
  console.log(JSON.stringify(result));
} catch (e) {
  problems.push(`rendering failed: ${e.message}`);
} finally {
  await browser.close();
}
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
