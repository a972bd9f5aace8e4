// Bundles the console into exactly three files, which the cctrack binary embeds:
//   dist/index.html, dist/app.js, dist/app.css
// Every image of Leaflet and leaflet-geoman is inlined as a data URL, so the page asks nothing
// of any host but its own. Usage: `npm run build` (or `node build.mjs --watch` while developing).
import * as esbuild from 'esbuild';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, 'dist');
const watch = process.argv.includes('--watch');
const EXPECTED = ['app.css', 'app.js', 'index.html'];

const options = {
  absWorkingDir: here,
  entryPoints: { app: 'src/main.js' },
  outdir: dist,
  bundle: true,
  minify: !watch,
  sourcemap: false,
  format: 'iife',
  // ES2020 syntax: Chromium 80 and later, as the office PCs' 360/QQ/Edge browsers are.
  target: ['es2020'],
  loader: { '.png': 'dataurl', '.svg': 'dataurl', '.gif': 'dataurl' },
  legalComments: 'none',
  charset: 'utf8',
  define: { 'process.env.NODE_ENV': '"production"' },
  logLevel: 'warning',
};

async function html() {
  const text = await readFile(path.join(here, 'src/index.html'), 'utf8');
  await writeFile(path.join(dist, 'index.html'), text.replace(/>\s+</g, '><').trim() + '\n');
}

/** The build is exactly the three files, and nothing in them loads from elsewhere. */
async function check() {
  const files = (await readdir(dist)).sort();
  if (JSON.stringify(files) !== JSON.stringify(EXPECTED)) {
    throw new Error(`dist/ holds ${files.join(', ')}; expected exactly ${EXPECTED.join(', ')}`);
  }
  const css = await readFile(path.join(dist, 'app.css'), 'utf8');
  // Inlined images are quoted data URLs (whose SVG may hold url(#id) references of its own);
  // what is left must be in-page fragments (url(#default#VML) of old IE).
  const rest = css.replace(/url\(\s*"data:[^"]*"\s*\)|url\(\s*'data:[^']*'\s*\)|url\(\s*data:[^)]*\)/g, '');
  const external = [...rest.matchAll(/url\(\s*(['"]?)([^'")]*)\1\s*\)/g)].map((m) => m[2]).filter((u) => !u.startsWith('#'));
  if (external.length) throw new Error(`app.css refers to files it does not inline: ${external.join(', ')}`);
  if (/@import|@font-face/.test(css)) throw new Error('app.css imports a stylesheet or a web font');
}

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });
if (watch) {
  const ctx = await esbuild.context({ ...options, plugins: [{ name: 'html', setup: (b) => b.onEnd(html) }] });
  await ctx.watch();
  console.log('build: watching src/ (Ctrl-C stops)');
} else {
  await esbuild.build(options);
  await html();
  await check();
  const sizes = await Promise.all(EXPECTED.map(async (f) => `${f} ${((await readFile(path.join(dist, f))).length / 1024).toFixed(0)} KiB`));
  console.log(`build: ${sizes.join(', ')}`);
}
