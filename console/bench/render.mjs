// Console rendering benchmark in headless Chromium (Debian's, through playwright-core):
//   (a) the alarm queue with 1,000 open alarms: from the request for the list to the painted table;
//   (b) a 10,000-fix trajectory: from the request for the track to the painted map.
// The built console (dist/: `npm run build` first) is served by a local server, and the API is
// answered with synthetic data of the real shapes, twice: by `page.route` (the answer passes
// through the DevTools protocol, which costs more than a network for 3 MB), and over HTTP by the
// same local server. Each figure is split into request → parsed answer and parsed → painted (the
// page's own work). Targets (DESIGN.md): queue ≤ 1000 ms, trajectory ≤ 500 ms.
// Usage: `npm run bench` (`-- --runs 7`; `-- --check` exits 1 when a page.route median misses).
import { chromium } from 'playwright-core';
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, '..', 'dist');
const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1]) || 5;
const check = args.includes('--check');

// ---- synthetic data ----
const KINDS = ['fence_exit', 'exclusion_entry', 'curfew', 'location_failure', 'device_silent', 'leave_overdue', 'mock_location', 'low_battery'];
const LEVELS = ['lenient', 'ordinary', 'strict'];
let seed = 42;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const now = Date.now();
const iso = (t) => new Date(t).toISOString();

const orgs = [
  { id: 1, parent_id: null, kind: 'city', name: '营口市', adcode: '210800', boundary: { type: 'Polygon', coordinates: [[[121.9, 40.1], [122.8, 40.1], [122.8, 40.95], [121.9, 40.95], [121.9, 40.1]]] } },
  { id: 2, parent_id: 1, kind: 'county', name: '站前区', adcode: '210802', boundary: { type: 'Polygon', coordinates: [[[122.18, 40.62], [122.32, 40.62], [122.32, 40.74], [122.18, 40.74], [122.18, 40.62]]] } },
  ...Array.from({ length: 8 }, (_, i) => ({ id: 10 + i, parent_id: 2, kind: 'office', name: `第${i + 1}司法所`, adcode: null, boundary: null })),
];

const alarms = Array.from({ length: 1000 }, (_, i) => {
  const id = 5000 - i;
  const opened = now - i * 47e3;
  const acknowledged = rand() < 0.3;
  return {
    id, kind: KINDS[i % KINDS.length], state: acknowledged ? 'acknowledged' : 'open', person_id: 1 + (i % 300), person_name: `测试${i % 300}`,
    level: LEVELS[i % 3], is_key: i % 20 === 0, office_id: 10 + (i % 8), office_name: `第${(i % 8) + 1}司法所`, fence_id: i % 2 ? 1 : null,
    fence_name: i % 2 ? '站前区（居住县区）' : null, opened_at: iso(opened), cause_fixed_at: iso(opened - 30e3), returned_inside_at: null,
    evidence_count: i % 7, last_evidence_at: null, acknowledged_at: acknowledged ? iso(opened + 60e3) : null, acknowledged_by: acknowledged ? 'office.210802' : null,
    closed_at: null, closed_by: null, outcome: null, outcome_label: null, handling_note: null, overnight: i % 97 === 0,
  };
});

const district = { id: 1, name: '站前区（居住县区）', kind: 'inclusion', shape: 'area', geometry: orgs[1].boundary, radius_m: null, half_width_m: null, schedule: null, valid_from: null, valid_to: null, shared: true, leave_id: null };
const profile = {
  person: { id: 1, name: '测试1', office_id: 10, office_name: '第1司法所', county_name: '站前区', level: 'strict', is_key: true, key_interval_min: 30, status: 'active', correction_type: 'probation', term_start: '2026-01-01', term_end: '2027-12-31', next_due_at: iso(now + 60e3), last_fix_at: iso(now), open_alarms: 1 },
  last_position: { lat: 40.68, lon: 122.25, at: iso(now) },
  bases: [], phones: [], fences: [district], recent_alarms: [],
};

function track(n) {
  let lat = 40.68;
  let lon = 122.25;
  const start = now - n * 30e3;
  const points = [];
  for (let i = 0; i < n; i++) {
    lat += (rand() - 0.5) * 0.0009;
    lon += (rand() - 0.5) * 0.0012;
    const outside = lon > 122.32 || lat > 40.74 || lon < 122.18 || lat < 40.62;
    const r = rand();
    const position = outside ? 'outside' : r < 0.03 ? 'uncertain' : 'inside';
    points.push({
      time: iso(start + i * 30e3), lat, lon, accuracy_m: 5 + rand() * 30, source: 'gps', input_crs: 'wgs84', battery_pct: 80, speed_mps: rand() * 2,
      device_seq: i, mock: false, implausible: false, verdicts: [{ fence: 1, kind: 'inclusion', position, distance_m: position === 'inside' ? 500 : -20 }],
    });
  }
  return { person: 1, points };
}
const bodies = {
  me: JSON.stringify({ user: { id: 1, username: 'bench', organisation_id: 2, role: 'county_admin' } }),
  orgs: JSON.stringify(orgs),
  alarms: JSON.stringify({ items: alarms, next: null }),
  profile: JSON.stringify(profile),
  track: JSON.stringify(track(10000)),
  outcomes: JSON.stringify([{ code: 'phone_verified', label: '电话核实' }]),
};

/** The synthetic answer to an API path: [status, content type, body]. */
function answer(p) {
  const json = (body) => [200, 'application/json', body];
  if (p === '/api/v1/auth/me') return json(bodies.me);
  if (p === '/api/v1/organisations') return json(bodies.orgs);
  if (p === '/api/v1/alarms') return json(bodies.alarms);
  if (p === '/api/v1/alarm-outcomes') return json(bodies.outcomes);
  if (p === '/api/v1/persons/1') return json(bodies.profile);
  if (p === '/api/v1/persons/1/track') return json(bodies.track);
  if (p === '/api/v1/events') return [200, 'text/event-stream', 'retry: 600000\n: bench\n\n'];
  if (p === '/console/config.json') return json('{"tile_url":null,"tile_crs":"wgs84"}');
  return [404, 'application/json', '{"code":"not_found","message":"bench"}'];
}

// ---- a local server: the built console, and (in "server" mode) the synthetic API over HTTP ----
const files = { '/': 'index.html', '/app.js': 'app.js', '/app.css': 'app.css' };
const types = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };
const server = http.createServer(async (req, res) => {
  const p = req.url.split('?')[0];
  const f = files[p];
  if (f) return res.writeHead(200, { 'content-type': types[f.split('.').pop()] }).end(await readFile(path.join(dist, f)));
  const [status, type, body] = answer(p);
  res.writeHead(status, { 'content-type': type }).end(body);
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage({ viewport: { width: 1366, height: 768 }, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' });
const errors = [];
page.on('pageerror', (e) => errors.push(String(e)));
page.on('console', (m) => { if (process.env.BENCH_DEBUG) console.log('console:', m.type(), m.text()); });
let mode = 'route';
const intercept = (route) => {
  if (mode !== 'route') return route.continue();
  const [status, contentType, body] = answer(new URL(route.request().url()).pathname);
  return route.fulfill({ status, contentType, body });
};
await page.route('**/api/v1/**', intercept);
await page.route('**/console/config.json', intercept);

const measure = (start, end) => page.evaluate(([s, e]) => {
  const m = performance.measure(`${s}→${e}`, s, e);
  return m.duration;
}, [start, end]);

async function time(hash, ready, prefix, endName) {
  const out = { total: [], fetch: [], page: [] };
  for (let i = 0; i < runs; i++) {
    // A new query string each time: a fresh document (a hash change alone keeps the old one).
    await page.goto(`${base}/?run=${mode}-${prefix}-${i}#${hash}`);
    try {
      await page.waitForSelector(ready, { timeout: 30000, state: 'attached' });
    } catch (e) {
      await page.screenshot({ path: '/tmp/bench-failure.png' });
      console.error(`bench: ${hash} never became ready; url ${page.url()}; screenshot /tmp/bench-failure.png`);
      throw e;
    }
    await page.waitForFunction((e) => performance.getEntriesByName(e).length > 0, `${prefix}:${endName}`);
    out.total.push(await measure(`${prefix}:request`, `${prefix}:${endName}`));
    out.fetch.push(await measure(`${prefix}:request`, `${prefix}:response`));
    out.page.push(await measure(`${prefix}:response`, `${prefix}:${endName}`));
  }
  for (const k of Object.keys(out)) out[k].sort((a, b) => a - b);
  return out;
}

const median = (xs) => xs[Math.floor(xs.length / 2)];
const fmt = (xs) => `median ${median(xs).toFixed(0)} ms (min ${xs[0].toFixed(0)}, max ${xs[xs.length - 1].toFixed(0)})`;

console.log(`${runs} runs each, headless Chromium, 1366×768`);
const results = {};
for (mode of ['route', 'server']) {
  const queue = await time('/alarms', '[data-testid="alarm-queue"][data-ready="true"]', 'queue', 'rendered');
  const rows = await page.evaluate(() => document.querySelector('[data-testid="alarm-queue"]').alarmIds().length);
  const trackTimes = await time('/persons/1/track', '[data-testid="track-map"][data-ready]', 'track', 'drawn');
  const fixes = await page.textContent('[data-testid="track-status"]');
  results[mode] = { queue, trackTimes, rows };
  const how = mode === 'route' ? 'answered by page.route' : 'answered over HTTP by a local server';
  const report = (what, t, target) => console.log(`[${how}] ${what}: request → ${target.what}: ${fmt(t.total)} [target ≤ ${target.ms} ms]\n`
    + `    request → parsed answer: ${fmt(t.fetch)}; parsed → ${target.what}: ${fmt(t.page)}`);
  report(`alarm queue, ${rows} open alarms`, queue, { what: 'rendered', ms: 1000 });
  report(`trajectory, ${fixes.split(' ')[0]} fixes`, trackTimes, { what: 'drawn', ms: 500 });
}
const { queue, trackTimes, rows } = results.route;
if (errors.length) console.log(`page errors: ${errors.join(' | ')}`);
await browser.close();
server.close();
const over = median(queue.total) > 1000 || median(trackTimes.total) > 500 || rows !== 1000 || errors.length > 0;
if (over) console.log('bench: a target was missed');
process.exit(check && over ? 1 : 0);
