// 轨迹回放: a time range, play/pause, speed and a slider; fixes coloured by verdict (合规 inside,
// 存疑 uncertain, 违规 outside), breach moments marked; GPX and GeoJSON export (the server audits
// every read and export).
import { h, fmtTime, toLocalInput, fromLocalInput, field, formError, showFormError } from '../dom.js';
import { get, qs, describe } from '../api.js';
import { setQuery } from '../router.js';
import { message } from '../shell.js';
import { VERDICT, VERDICT_COLOUR } from '../labels.js';
import { createMap, fenceLayer, fit, toMap } from '../map.js';
import { TrackLayer } from '../track-layer.js';
import { trackPoints } from '../verdict.js';

// The time inputs hold whole minutes: end the default range at least a minute from now, rounded
// up, so that a fix that has just arrived (phones' clocks run a little ahead) is in it.
const rangeEnd = (now) => Math.ceil((now + 60e3) / 60e3) * 60e3;

const SPEEDS = [[60, '60 倍'], [300, '300 倍'], [1800, '1800 倍'], [3600, '3600 倍'], [14400, '14400 倍']];

export async function trackPage(main, ctx) {
  const id = Number(ctx.params.id);
  let profile;
  try {
    profile = await get(`/api/v1/persons/${id}`, { signal: ctx.signal });
  } catch (e) {
    if (e.name === 'AbortError') return;
    main.classList.remove('full');
    return message(main, e.status === 404 ? '未找到该人员' : '无法打开轨迹', e.status === 404 ? '该人员不存在，或不在本单位管辖范围内。' : describe(e), 'not-found');
  }
  const fenceNames = new Map(profile.fences.map((f) => [f.id, f.name]));
  const now = Date.now();
  const fromInput = h('input', { type: 'datetime-local', name: 'from', 'data-testid': 'track-from', value: toLocalInput(ctx.query.get('from') || now - 24 * 3600e3) });
  const toInput = h('input', { type: 'datetime-local', name: 'to', 'data-testid': 'track-to', value: toLocalInput(ctx.query.get('to') || rangeEnd(now)) });
  const rangeForm = h('form', { 'aria-label': '时间范围', novalidate: true },
    h('div', { class: 'row' }, field('开始（北京时间）', fromInput), field('结束', toInput)),
    h('div', { class: 'row', style: 'margin:6px 0' },
      h('button', { type: 'submit', class: 'primary', 'data-testid': 'track-load' }, '查询轨迹'),
      ...[[6, '近 6 小时'], [24, '近 24 小时'], [24 * 7, '近 7 天']].map(([hours, text]) => h('button', { type: 'button', onclick: () => {
        fromInput.value = toLocalInput(Date.now() - hours * 3600e3);
        toInput.value = toLocalInput(rangeEnd(Date.now()));
        load();
      } }, text))),
    formError());
  rangeForm.addEventListener('submit', (ev) => { ev.preventDefault(); load(); });

  const status = h('div', { class: 'small muted', 'aria-live': 'polite', 'data-testid': 'track-status' });
  const play = h('button', { type: 'button', class: 'primary', 'data-testid': 'play', disabled: true, 'aria-pressed': 'false' }, '播放');
  const speed = h('select', { id: 'track-speed', 'data-testid': 'speed' }, SPEEDS.map(([v, t]) => h('option', { value: v, selected: v === 1800 }, t)));
  const slider = h('input', { type: 'range', min: 0, max: 0, value: 0, step: 1, disabled: true, 'data-testid': 'slider', 'aria-label': '播放位置' });
  const info = h('div', { class: 'fix-info', 'data-testid': 'fix-info', 'aria-live': 'off' }, '尚无轨迹。');
  const breaches = h('div', { class: 'breach-list' });
  const gpx = h('a', { 'data-testid': 'export-gpx', download: `track-${id}.gpx` }, '导出 GPX');
  const geojson = h('a', { 'data-testid': 'export-geojson', download: `track-${id}.geojson` }, '导出 GeoJSON');

  const mapEl = h('div', { class: 'map', 'data-testid': 'track-map', role: 'region', 'aria-label': '轨迹地图' });
  main.replaceChildren(h('div', { class: 'split' },
    h('div', { class: 'side' },
      h('p', { class: 'small' }, h('a', { href: `#/persons/${id}` }, `← ${profile.person.name}的档案`)),
      h('h1', {}, `轨迹回放：${profile.person.name}`),
      rangeForm, status,
      h('div', { class: 'player panel' },
        h('div', { class: 'row' }, play, h('label', { for: 'track-speed' }, '速度'), speed),
        slider, info),
      h('h3', {}, '越界时刻'), breaches,
      h('p', { class: 'row' }, gpx, geojson, h('span', { class: 'small muted' }, '（导出记入审计日志）'))),
    h('div', { class: 'mapbox' }, mapEl,
      h('div', { class: 'legend' }, h('i', { style: `background:${VERDICT_COLOUR.inside}` }), '合规', h('i', { style: `background:${VERDICT_COLOUR.uncertain}` }), '存疑',
        h('i', { style: `background:${VERDICT_COLOUR.outside}` }), '违规', h('i', { style: 'background:#fff;border:2px solid #c62828' }), '越界时刻'))));

  const map = createMap(mapEl);
  const fenceLayers = profile.fences.map((f) => fenceLayer(map, f, { fillOpacity: f.kind === 'exclusion' ? 0.15 : 0.03 }).addTo(map));
  fit(map, fenceLayers, 14);

  let layer = null;
  let pts = [];
  let index = 0;
  let playing = false;
  let simTime = 0;
  let lastFrame = 0;

  function show(i, drawn = false) {
    index = Math.max(0, Math.min(pts.length - 1, i));
    slider.value = String(index);
    if (layer && !drawn) layer.setCurrent(index);
    const p = pts[index];
    if (!p) return;
    const f = p.fix;
    info.replaceChildren(
      h('div', {}, h('b', {}, fmtTime(f.time)), ' ', h('span', { class: 'badge', style: `color:${VERDICT_COLOUR[p.verdict]}` }, VERDICT[p.verdict]),
        ` 第 ${index + 1}/${pts.length} 个定位`),
      h('div', { class: 'small' }, `精度 ${f.accuracy_m == null ? '—' : Math.round(f.accuracy_m) + ' 米'} · 来源 ${f.source}${f.speed_mps != null ? ` · 速度 ${(f.speed_mps * 3.6).toFixed(0)} km/h` : ''}${f.battery_pct != null ? ` · 电量 ${f.battery_pct}%` : ''}${f.mock ? ' · 虚拟定位' : ''}${f.implausible ? ' · 跳变' : ''}`),
      h('div', { class: 'small muted' }, (f.verdicts || []).map((v) => `${fenceNames.get(v.fence) || `围栏 #${v.fence}`}：${v.position === 'inside' ? '内' : v.position === 'outside' ? '外' : '边界'}（${Math.round(v.distance_m)} 米）`).join('；')));
  }

  function stop() {
    playing = false;
    play.textContent = '播放';
    play.setAttribute('aria-pressed', 'false');
  }

  function frame(t) {
    if (!playing || !ctx.alive()) return;
    const dt = lastFrame ? (t - lastFrame) / 1000 : 0;
    lastFrame = t;
    simTime += dt * 1000 * Number(speed.value);
    let i = index;
    while (i + 1 < pts.length && Date.parse(pts[i + 1].fix.time) <= simTime) i++;
    // A long gap (phone off, night) is skipped after two seconds of nothing.
    if (i === index && i + 1 < pts.length && Date.parse(pts[i + 1].fix.time) - simTime > 2 * Number(speed.value) * 1000) {
      i += 1;
      simTime = Date.parse(pts[i].fix.time);
    }
    if (i !== index) show(i);
    if (index >= pts.length - 1) return stop();
    requestAnimationFrame(frame);
  }

  play.addEventListener('click', () => {
    if (playing) return stop();
    if (index >= pts.length - 1) show(0);
    playing = true;
    simTime = Date.parse(pts[index].fix.time);
    lastFrame = 0;
    play.textContent = '暂停';
    play.setAttribute('aria-pressed', 'true');
    requestAnimationFrame(frame);
  });
  slider.addEventListener('input', () => {
    show(Number(slider.value));
    simTime = Date.parse(pts[index].fix.time);
  });

  async function load() {
    showFormError(rangeForm, null);
    const from = fromLocalInput(fromInput.value);
    const to = fromLocalInput(toInput.value);
    if (!from) return showFormError(rangeForm, { field: 'from' }, '请填写开始时间');
    if (!to) return showFormError(rangeForm, { field: 'to' }, '请填写结束时间');
    if (to <= from) return showFormError(rangeForm, { field: 'to' }, '结束时间须晚于开始时间');
    stop();
    setQuery({ from, to });
    gpx.href = `/api/v1/persons/${id}/track${qs({ from, to, format: 'gpx' })}`;
    geojson.href = `/api/v1/persons/${id}/track${qs({ from, to, format: 'geojson' })}`;
    status.textContent = '正在加载轨迹…';
    performance.clearMarks('track:request');
    performance.mark('track:request');
    let r;
    try {
      r = await get(`/api/v1/persons/${id}/track${qs({ from, to, format: 'json' })}`, { signal: ctx.signal });
    } catch (e) {
      if (e.name === 'AbortError') return;
      showFormError(rangeForm, e, describe(e));
      status.textContent = '';
      return;
    }
    performance.clearMarks('track:response');
    performance.mark('track:response');
    const alarmFixes = new Set(profile.recent_alarms.filter((a) => a.cause_fixed_at).map((a) => Date.parse(a.cause_fixed_at)));
    pts = trackPoints(r.points, toMap, alarmFixes);
    if (layer) layer.remove();
    layer = null;
    slider.max = String(Math.max(0, pts.length - 1));
    slider.disabled = play.disabled = pts.length < 2;
    const counts = { inside: 0, uncertain: 0, outside: 0 };
    pts.forEach((p) => counts[p.verdict]++);
    status.textContent = pts.length
      ? `${pts.length} 个定位：合规 ${counts.inside}，存疑 ${counts.uncertain}，违规 ${counts.outside}`
      : '该时段没有定位。';
    const moments = pts.map((p, i) => [p, i]).filter(([p]) => p.breach);
    breaches.replaceChildren(...(moments.length ? moments.slice(0, 50).map(([p, i]) => h('button', { type: 'button', 'data-testid': 'breach-moment', onclick: () => { stop(); show(i); map.panTo(p.latlng); } }, fmtTime(p.fix.time).slice(5))) : [h('span', { class: 'muted small' }, '无')]));
    if (!pts.length) {
      info.textContent = '尚无轨迹。';
      mainReady();
      return;
    }
    // Fit first and add the layer last: it is drawn once.
    layer = new TrackLayer(pts);
    map.fitBounds(layer.getBounds(), { padding: [30, 30], maxZoom: 16, animate: false });
    layer.setCurrent(0, true);
    layer.addTo(map);
    show(0, true);
    mainReady();
  }

  function mainReady() {
    // After the next frame has been painted.
    requestAnimationFrame(() => setTimeout(() => {
      performance.clearMarks('track:drawn');
      performance.mark('track:drawn');
      mapEl.dataset.ready = String(Date.now());
    }, 0));
  }
  ctx.signal.addEventListener('abort', stop);
  await load();
}
