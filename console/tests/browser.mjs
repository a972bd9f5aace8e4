// Browser test of the console against a real cctrack server (started and seeded by the Rust
// test that runs this script). Headless Debian Chromium driven by playwright-core.
//
//   CCTRACK_BROWSER_FIXTURE='{"base_url": "http://127.0.0.1:8080", "osmand_url": "http://127.0.0.1:5055",
//     "office": {"username": "...", "password": "..."},
//     "person": {"id": 1, "device_id": "<enrolment id>", "outside": [lon, lat], "inside": [lon, lat]},
//     "out_of_scope_person": 13, "report": 1, "screenshots": "/tmp/shots"}' node tests/browser.mjs
//
// `report` is a stored report (daily lists) of the office's organisation.
//
// (the variable may also name a JSON file). Exit code 0 when every step passed; otherwise 1
// with the failing step and why. CHROMIUM overrides /usr/bin/chromium; HEADED=1 shows the window.
import { chromium } from 'playwright-core';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';

const raw = process.env.CCTRACK_BROWSER_FIXTURE;
if (!raw) {
  console.error('browser test: set CCTRACK_BROWSER_FIXTURE to the fixture JSON (or a file holding it)');
  process.exit(2);
}
const fx = JSON.parse(raw.trim().startsWith('{') ? raw : await readFile(raw, 'utf8'));
const origin = new URL(fx.base_url).origin;
const shots = fx.screenshots || 'target/browser-screenshots';
await mkdir(shots, { recursive: true });
const person = fx.person;

const requests = [];
const consoleErrors = [];
const pageErrors = [];
const badResponses = [];
/** 4xx answers the test itself provokes: the first /auth/me before login, the out-of-scope person, the missing report. */
const expectedBad = [
  { status: 401, test: (u) => u.pathname === '/api/v1/auth/me' },
  { status: 404, test: (u) => new RegExp(`^/api/v1/persons/${fx.out_of_scope_person}(/|$)`).test(u.pathname) },
  { status: 404, test: (u) => u.pathname === `/api/v1/reports/${fx.report + 1000000}` },
];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: !process.env.HEADED,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
});
const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: 'zh-CN', timezoneId: 'Asia/Shanghai', serviceWorkers: 'block' });
const page = await context.newPage();
page.setDefaultTimeout(15000);
page.on('request', (r) => requests.push(r.url()));
page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
page.on('pageerror', (e) => pageErrors.push(String(e && e.stack ? e.stack : e)));
page.on('response', (r) => {
  if (r.status() < 400) return;
  const u = new URL(r.url());
  const expected = expectedBad.some((x) => x.status === r.status() && x.test(u));
  badResponses.push({ url: r.url(), status: r.status(), expected });
});

let current = '';
async function step(name, f) {
  current = name;
  const t = Date.now();
  await f();
  console.log(`ok - ${name} (${Date.now() - t} ms)`);
}
const shot = (name) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: false });
const fail = (why) => { throw new Error(why); };
const nav = async (hash, ready) => {
  await page.evaluate((h) => { location.hash = h; }, hash);
  if (ready) await page.waitForSelector(ready);
};

/** Sends one OsmAnd (Traccar Client) fix: `GET /?id=&lat=&lon=&timestamp=&accuracy=`. */
async function osmand([lon, lat], timestamp) {
  const u = new URL(fx.osmand_url);
  u.pathname = '/';
  u.search = new URLSearchParams({ id: person.device_id, lat: String(lat), lon: String(lon), timestamp: String(timestamp), accuracy: '10' }).toString();
  const r = await fetch(u);
  if (r.status !== 200) fail(`the OsmAnd listener answered ${r.status} to a fix: ${await r.text()}`);
}

let clock = Math.floor(Date.now() / 1000);
// The queue draws only the rows in view; its table lists every alarm it holds.
const queueIds = () => page.evaluate(() => document.querySelector('[data-testid="alarm-queue"]').alarmIds().map(String));
const nextTime = () => (clock += 15);

try {
  await step('the login page loads', async () => {
    await page.goto(fx.base_url);
    await page.waitForSelector('[data-testid="login-username"]');
    await shot('01-login');
  });

  await step('office staff log in and land on the alarm queue', async () => {
    await page.fill('[data-testid="login-username"]', fx.office.username);
    await page.fill('[data-testid="login-password"]', fx.office.password);
    await page.click('[data-testid="login-submit"]');
    await page.waitForSelector('[data-testid="alarm-queue"][data-ready="true"]');
    await page.waitForSelector('[data-testid="live-status"].on');
    await shot('02-alarm-queue');
  });

  let alarmId;
  await step('an alarm caused by an OsmAnd fix appears in the queue without a reload', async () => {
    await page.evaluate(() => { window.__sameDocument = true; });
    // Fixes older than the person's newest are only evidence: start after it.
    const last = await page.evaluate(async (pid) => {
      const r = await fetch(`/api/v1/persons/${pid}`, { credentials: 'same-origin', headers: { 'X-Requested-With': 'cctrack' } });
      const p = await r.json();
      return p.last_position ? p.last_position.at : null;
    }, person.id);
    if (last) clock = Math.max(clock, Math.ceil(Date.parse(last) / 1000));
    const personAlarms = () => page.evaluate((pid) => document.querySelector('[data-testid="alarm-queue"]')
      .alarmEntries().filter((a) => a.person_id === pid).map((a) => String(a.id)), person.id);
    const before = new Set(await queueIds());
    // A fix far from the last one may be judged an implausible jump: that asks for confirmation,
    // and a second non-compliant fix opens the alarm. Send up to four, a few seconds apart.
    for (let i = 0; i < 4 && !alarmId; i++) {
      await osmand(person.outside, nextTime());
      const deadline = Date.now() + 6000;
      while (Date.now() < deadline && !alarmId) {
        alarmId = (await personAlarms()).find((x) => !before.has(x));
        if (!alarmId) await page.waitForTimeout(200);
      }
    }
    if (!alarmId) fail(`no new alarm for person ${person.id} appeared in the queue within 24 s of the fixes at ${person.outside}`);
    if (!(await page.evaluate(() => window.__sameDocument === true))) fail('the page was reloaded');
    await page.waitForSelector('[data-testid="new-alarm-banner"]:not(.hidden)');
    await page.click('[data-testid="new-alarm-locate"]');
    const row = page.locator(`tr[data-testid="alarm-row"][data-id="${alarmId}"]`);
    const personOf = await row.getAttribute('data-person');
    if (personOf !== String(person.id)) fail(`the new alarm ${alarmId} is of person ${personOf}, not ${person.id}`);
    if (!(await row.evaluate((r) => r.classList.contains('new')))) fail('the new alarm is not highlighted');
    await shot('03-alarm-queue-new-alarm');
  });

  await step('the alarm opens with its map and history', async () => {
    await page.click(`tr[data-testid="alarm-row"][data-id="${alarmId}"] a[data-testid="alarm-open"]`);
    await page.waitForSelector('[data-testid="alarm-detail"]');
    await page.waitForSelector('[data-testid="history-item"][data-kind="opened"]');
    await page.waitForSelector('[data-testid="alarm-map"][data-ready="true"]');
    await shot('04-alarm-detail');
  });

  await step('resolving it with an outcome and a note records it in the history', async () => {
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="handle-outcome"] option').length > 1);
    await page.selectOption('[data-testid="handle-outcome"]', 'phone_verified');
    await page.fill('[data-testid="handle-note"]', '电话核实：本人已返回居住地（浏览器测试）');
    await page.click('[data-testid="handle-resolve"]');
    await page.waitForSelector('[data-testid="history-item"][data-kind="resolved"]');
    const state = await page.textContent('[data-testid="alarm-state"]');
    if (!state.includes('已处置')) fail(`the alarm shows "${state}", not 已处置 (resolved)`);
    await shot('05-alarm-resolved');
  });

  await step('the resolved alarm has left the queue', async () => {
    await page.click('[data-testid="nav-alarms"]');
    await page.waitForSelector('[data-testid="alarm-queue"][data-ready="true"]');
    if ((await queueIds()).includes(alarmId)) fail(`alarm ${alarmId} is still in the queue`);
  });

  let fenceId;
  const fenceName = `浏览器测试围栏 ${new Date().toISOString().slice(11, 19)}`;
  await step('a polygon fence drawn on the map is saved and listed', async () => {
    await nav(`/persons/${person.id}/fences`, '[data-testid="fence-map"][data-ready="true"]');
    await page.fill('[data-testid="fence-name"]', fenceName);
    await page.selectOption('[data-testid="fence-kind"]', 'inclusion');
    const [lon, lat] = person.inside;
    const corners = await page.evaluate(([lon, lat]) => {
      const el = document.querySelector('[data-testid="fence-map"]');
      const map = el.leafletMap;
      map.setView(map.toDisplayLatLng(lat, lon), 16, { animate: false });
      const d = [[-0.003, -0.002], [0.003, -0.002], [0.003, 0.002], [-0.003, 0.002]];
      return d.map(([dx, dy]) => {
        const p = map.latLngToContainerPoint(map.toDisplayLatLng(lat + dy, lon + dx));
        return [p.x, p.y];
      });
    }, [lon, lat]);
    await page.click('[data-testid="draw-polygon"]');
    const box = await page.locator('[data-testid="fence-map"]').boundingBox();
    for (const [x, y] of [...corners, corners[0]]) {
      await page.mouse.click(box.x + x, box.y + y);
      await page.waitForTimeout(150);
    }
    await page.waitForFunction(() => document.querySelector('[data-testid="draw-hint"]').textContent.includes('已绘制'));
    await page.click('[data-testid="fence-save"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="fence-status"]')?.dataset.fenceId);
    fenceId = Number(await page.getAttribute('[data-testid="fence-status"]', 'data-fence-id'));
    const names = await page.$$eval('[data-testid="fence-item-name"]', (els) => els.map((e) => e.textContent));
    if (!names.includes(fenceName)) fail(`the saved fence "${fenceName}" is not listed (listed: ${names.join(', ')})`);
    await shot('06-fence-editor');
  });

  await step('the new fence is applied to the next fix', async () => {
    let applied = null;
    for (let i = 0; i < 5 && !applied; i++) {
      const t = nextTime();
      await osmand(person.inside, t);
      await page.waitForTimeout(400 + 400 * i);
      applied = await page.evaluate(async ([pid, fence, t]) => {
        const from = new Date((t - 1) * 1000).toISOString();
        const r = await fetch(`/api/v1/persons/${pid}/track?format=json&from=${encodeURIComponent(from)}`, { credentials: 'same-origin', headers: { 'X-Requested-With': 'cctrack' } });
        const j = await r.json();
        const last = j.points[j.points.length - 1];
        return last && (last.verdicts || []).find((v) => v.fence === fence) || null;
      }, [person.id, fenceId, t]);
    }
    if (!applied) fail(`fence ${fenceId} has no verdict on the fixes sent after it was saved`);
    if (applied.position !== 'inside') fail(`the fix at ${person.inside} is "${applied.position}" of the fence drawn around it`);
  });

  await step('the fence is retired from the editor', async () => {
    await nav(`/persons/${person.id}/fences`, `[data-testid="fence-item"][data-id="${fenceId}"]`);
    const retire = `[data-testid="fence-item"][data-id="${fenceId}"] [data-testid="fence-retire"]`;
    await page.click(retire);
    await page.click(retire); // the second click confirms
    await page.waitForSelector(`[data-testid="fence-item"][data-id="${fenceId}"]`, { state: 'detached' });
  });

  await step('trajectory playback plays', async () => {
    await nav(`/persons/${person.id}/track`, '[data-testid="track-map"][data-ready]');
    await page.waitForSelector('[data-testid="play"]:not([disabled])');
    const exports = await page.$$eval('[data-testid^="export-"]', (as) => as.map((a) => a.href));
    for (const href of exports) if (new URL(href).origin !== origin) fail(`export link ${href} leaves the site`);
    const start = Number(await page.inputValue('[data-testid="slider"]'));
    await page.selectOption('[data-testid="speed"]', '14400');
    await page.click('[data-testid="play"]');
    await page.waitForFunction((s) => Number(document.querySelector('[data-testid="slider"]').value) > s, start, { timeout: 10000 });
    await shot('07-track-playback');
    if ((await page.getAttribute('[data-testid="play"]', 'aria-pressed')) === 'true') await page.click('[data-testid="play"]');
  });

  await step('the person view shows the profile', async () => {
    await nav(`/persons/${person.id}`, '[data-testid="person-profile"]');
    await page.waitForSelector('[data-testid="assessments"]');
    await shot('08-person');
  });

  await step('an out-of-scope person cannot be opened', async () => {
    await nav(`/persons/${fx.out_of_scope_person}`, '[data-testid="not-found"]');
    const text = await page.textContent('[data-testid="not-found"]');
    if (!text.includes('未找到')) fail(`the page says "${text}" instead of a not-found message`);
    await shot('09-out-of-scope');
  });

  await step('the other pages render', async () => {
    await nav('/persons', '[data-testid="person-row"]');
    await shot('10-persons');
    await nav('/leaves', '[data-testid="leave-list"]');
    await page.waitForFunction(() => !document.querySelector('[data-testid="leaves-status"]').textContent.includes('加载'));
    await shot('11-leaves');
    await nav('/dashboard', 'main[data-ready="true"]');
    await shot('12-dashboard');
  });

  const reportRow = `tr[data-testid="report-row"][data-id="${fx.report}"]`;
  await step('the reports page lists the office\'s report, and filters by kind', async () => {
    await page.click('[data-testid="nav-reports"]');
    await page.waitForSelector(reportRow);
    const title = await page.textContent(`${reportRow} [data-testid="report-title"]`);
    if (!title.includes('每日监管名单')) fail(`the report's title is "${title}"`);
    const figures = await page.textContent(`${reportRow} [data-testid="report-figures"]`);
    for (const f of ['异常定位', '越界', '定位缺失']) if (!figures.includes(f)) fail(`the daily report's figures "${figures}" lack ${f}`);
    const link = page.locator(`${reportRow} [data-testid="report-xlsx"]`);
    const href = await link.evaluate((a) => a.href);
    if (href !== `${origin}/api/v1/reports/${fx.report}/xlsx` || !(await link.evaluate((a) => a.hasAttribute('download')))) {
      fail(`the row's 下载XLSX link is ${href}, not a download of the report's workbook`);
    }
    await shot('13-reports');
    await page.click('[data-testid="reports-kind-weekly"]');
    await page.waitForSelector('[data-testid="reports-empty"]');
    if (await page.$(reportRow)) fail('the daily lists are listed under 周报');
    await page.click('[data-testid="reports-kind-daily"]');
    await page.waitForSelector(reportRow);
    if (!new URLSearchParams(page.url().split('?')[1] || '').get('kind')) fail(`the filter is not in the address: ${page.url()}`);
  });

  await step('a report opens as its page in a frame, prints, and downloads as a workbook', async () => {
    await page.click(`${reportRow} [data-testid="report-open"]`);
    await page.waitForSelector(`[data-testid="report-view"][data-id="${fx.report}"]`);
    await page.waitForSelector('main[data-ready="true"]');
    const heading = await page.textContent('[data-testid="report-heading"]');
    const h1 = await page.frameLocator('[data-testid="report-frame"]').locator('h1').textContent();
    if (!h1.includes('名单')) fail(`the framed report's heading is "${h1}"`);
    if (heading !== h1) fail(`the page's title "${heading}" is not the report's "${h1}"`);
    const box = await page.locator('[data-testid="report-frame"]').boundingBox();
    if (!box || box.height < 400) fail(`the report's frame is ${box ? box.height : 0} px high`);
    await shot('14-report-view');
    // 打印 prints the frame (its print() is replaced here: headless Chromium has no dialog to wait for).
    await page.evaluate(() => {
      const w = document.querySelector('[data-testid="report-frame"]').contentWindow;
      w.print = () => { window.__printed = (window.__printed || 0) + 1; };
    });
    await page.click('[data-testid="report-print"]');
    if ((await page.evaluate(() => window.__printed)) !== 1) fail('打印 did not print the framed report');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid="report-view"] [data-testid="report-xlsx"]')]);
    if (!download.suggestedFilename().endsWith('.xlsx')) fail(`the workbook downloads as "${download.suggestedFilename()}"`);
    await download.cancel().catch(() => {});
    const x = await page.evaluate(async (id) => {
      const r = await fetch(`/api/v1/reports/${id}/xlsx`, { credentials: 'same-origin' });
      const b = new Uint8Array(await r.arrayBuffer());
      return { status: r.status, type: r.headers.get('content-type'), zip: b[0] === 0x50 && b[1] === 0x4b, size: b.length };
    }, fx.report);
    if (x.status !== 200 || x.type !== 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' || !x.zip) {
      fail(`the workbook answered ${x.status} ${x.type} (${x.size} bytes${x.zip ? '' : ', not a zip'})`);
    }
    // A person's name in the lists links to <console_url>/persons/ID: it opens the console's page, not inside the frame.
    await page.frameLocator('[data-testid="report-frame"]').locator('body').evaluate((body, pid) => {
      const a = body.ownerDocument.createElement('a');
      a.id = 'person-link';
      a.href = `http://127.0.0.1:8080/persons/${pid}`;
      a.textContent = '张三';
      body.prepend(a);
    }, person.id);
    await page.frameLocator('[data-testid="report-frame"]').locator('#person-link').click();
    await page.waitForSelector('[data-testid="person-profile"]');
    await page.goBack();
    await page.waitForSelector(`[data-testid="report-view"][data-id="${fx.report}"]`);
    await page.click('[data-testid="report-back"]');
    await page.waitForSelector(reportRow);
  });

  await step('a mail\'s link to a report (a path, not a hash) opens that report', async () => {
    await page.goto(`${origin}/reports/${fx.report}`);
    await page.waitForSelector(`[data-testid="report-view"][data-id="${fx.report}"]`);
    if (!page.url().endsWith(`/#/reports/${fx.report}`)) fail(`the address became ${page.url()}`);
  });

  await step('a report out of scope or missing says so', async () => {
    await nav(`/reports/${fx.report + 1000000}`, '[data-testid="not-found"]');
    const text = await page.textContent('[data-testid="not-found"]');
    if (!text.includes('报表不存在或不在您的管辖范围内')) fail(`the page says "${text}"`);
  });

  await step('every request stayed on the server\'s origin', async () => {
    const away = requests.filter((u) => !u.startsWith('data:') && !u.startsWith('blob:') && new URL(u).origin !== origin);
    if (away.length) fail(`requests left ${origin}: ${[...new Set(away)].join(', ')}`);
  });

  await step('no unexpected error answers, console errors or exceptions', async () => {
    const unexpected = badResponses.filter((r) => !r.expected);
    if (unexpected.length) fail(`unexpected error answers: ${unexpected.map((r) => `${r.status} ${r.url}`).join(', ')}`);
    // Chromium reports every 4xx as a console error "Failed to load resource"; the expected ones are allowed.
    const allowed = new Set(badResponses.filter((r) => r.expected).map((r) => r.status));
    const errors = consoleErrors.filter((t) => {
      const m = t.match(/^Failed to load resource: the server responded with a status of (\d+)/);
      return !(m && allowed.has(Number(m[1])));
    });
    if (errors.length) fail(`console errors: ${errors.join(' | ')}`);
    if (pageErrors.length) fail(`uncaught exceptions: ${pageErrors.join(' | ')}`);
  });

  console.log(`browser test: all steps passed; ${requests.length} requests, all to ${origin}; screenshots in ${shots}`);
  await browser.close();
  process.exit(0);
} catch (e) {
  console.error(`not ok - ${current}: ${e.message}`);
  try {
    await shot('failure');
    console.error(`(screenshot of the failure: ${path.join(shots, 'failure.png')})`);
  } catch {
    /* the page is gone */
  }
  if (pageErrors.length) console.error(`uncaught exceptions so far: ${pageErrors.join(' | ')}`);
  if (consoleErrors.length) console.error(`console errors so far: ${consoleErrors.join(' | ')}`);
  await browser.close();
  process.exit(1);
}
