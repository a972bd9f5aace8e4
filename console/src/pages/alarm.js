// 报警详情与处置: the case, the person's fences and the fixes that caused it on the map, the
// whole history, and the handling form (outcome from the list, a note of at least 5
// characters, resolve or dismiss; acknowledge first if need be).
import { h, fill, esc, fmtTime, since, field, formError, showFormError, select } from '../dom.js';
import { get, post, describe, qs } from '../api.js';
import { can } from '../session.js';
import { subscribe } from '../live.js';
import { message } from '../shell.js';
import { KIND, STATE, EVENT, STEP, levelBadge } from '../labels.js';
import { createMap, fenceLayer, fit, toMap, L } from '../map.js';
import { TrackLayer } from '../track-layer.js';
import { trackPoints } from '../verdict.js';

let outcomesCache = null;
const outcomes = () => outcomesCache || (outcomesCache = get('/api/v1/alarm-outcomes').catch((e) => { outcomesCache = null; throw e; }));

const stepOf = (a, events) => {
  let s = a.escalation_step || null;
  for (const e of events) if (e.kind === 'escalated' && e.details && e.details.step) s = e.details.step;
  if (a.overnight || events.some((e) => e.kind === 'overnight')) s = 'overnight';
  return s;
};

function eventDetail(e) {
  const d = e.details || {};
  const parts = [];
  if (e.fixed_at) parts.push(`定位时间 ${fmtTime(e.fixed_at)}`);
  if (e.kind === 'opened' && d.confirmed) parts.push('经复核确认');
  if ((e.kind === 'escalated' || e.kind === 'overnight') && d.step) parts.push(STEP[d.step] || d.step);
  if (Array.isArray(d.recipients) && d.recipients.length) parts.push(`通知：${d.recipients.join('、')}`);
  if (d.recipient) parts.push(`收件人：${d.recipient}`);
  if (d.error) parts.push(`原因：${d.error}`);
  if (d.outcome_label || d.outcome) parts.push(`处置结果：${d.outcome_label || d.outcome}`);
  if (e.from_state && e.to_state && e.from_state !== e.to_state) parts.push(`${STATE[e.from_state] || e.from_state} → ${STATE[e.to_state] || e.to_state}`);
  return parts.join('；');
}

export function historyList(events) {
  return h('ol', { class: 'history', 'data-testid': 'alarm-history', 'aria-label': '报警历史' },
    events.map((e) => h('li', { class: `ev-${e.kind}`, 'data-testid': 'history-item', 'data-kind': e.kind },
      h('div', {}, h('b', {}, EVENT[e.kind] || e.kind), ' ', h('span', { class: 'muted small' }, fmtTime(e.at)), ' ',
        h('span', { class: 'small' }, e.by ? e.by : '系统')),
      eventDetail(e) ? h('div', { class: 'small muted' }, eventDetail(e)) : null,
      e.note ? h('div', { class: 'small' }, `备注：${e.note}`) : null)));
}

export async function alarmPage(main, ctx) {
  const id = Number(ctx.params.id);
  let data;
  try {
    data = await get(`/api/v1/alarms/${id}`, { signal: ctx.signal });
  } catch (e) {
    if (e.name === 'AbortError') return;
    main.classList.remove('full');
    return message(main, e.status === 404 ? '未找到报警' : '无法打开报警', describe(e), 'not-found');
  }
  const side = h('div', { class: 'side', 'data-testid': 'alarm-detail' });
  const mapEl = h('div', { class: 'map', 'data-testid': 'alarm-map', role: 'region', 'aria-label': '报警地图' });
  main.replaceChildren(h('div', { class: 'split' }, side, h('div', { class: 'mapbox' }, mapEl,
    h('div', { class: 'legend' }, '定位：', h('i', { style: 'background:#2e7d32' }), '合规', h('i', { style: 'background:#f9a825' }), '存疑',
      h('i', { style: 'background:#c62828' }), '违规'))));
  const map = createMap(mapEl);

  function renderSide() {
    const a = data.alarm;
    const step = stepOf(a, data.events);
    const open = a.state === 'open' || a.state === 'acknowledged';
    const windowFrom = new Date(Date.parse(a.cause_fixed_at || a.opened_at) - 3600e3).toISOString();
    fill(side,
      h('p', { class: 'small' }, h('a', { href: '#/alarms' }, '← 返回报警队列')),
      h('h1', {}, `${KIND[a.kind] || a.kind} `, h('span', { class: `badge ${a.state}`, 'data-testid': 'alarm-state' }, STATE[a.state] || a.state)),
      h('dl', { class: 'kv' },
        h('dt', {}, '编号'), h('dd', {}, `#${a.id}`),
        h('dt', {}, '人员'), h('dd', { html: `<a href="#/persons/${a.person_id}">${esc(a.person_name)}</a> ${levelBadge(a.level, a.is_key)}` }),
        h('dt', {}, '司法所'), h('dd', {}, a.office_name),
        h('dt', {}, '围栏'), h('dd', {}, a.fence_name || '—'),
        h('dt', {}, '报警时间'), h('dd', {}, `${fmtTime(a.opened_at)}（${open ? '已持续' : '历时'} ${since(a.opened_at, a.closed_at ? Date.parse(a.closed_at) : Date.now())}）`),
        h('dt', {}, '引发定位'), h('dd', {}, fmtTime(a.cause_fixed_at)),
        h('dt', {}, '后续证据'), h('dd', {}, `${a.evidence_count} 次定位${a.last_evidence_at ? `，最近 ${fmtTime(a.last_evidence_at)}` : ''}`),
        h('dt', {}, '已返回'), h('dd', {}, a.returned_inside_at ? fmtTime(a.returned_inside_at) : '否'),
        h('dt', {}, '升级'), h('dd', {}, step ? h('span', { class: 'badge step' }, STEP[step] || step) : '—'),
        h('dt', {}, '签收'), h('dd', {}, a.acknowledged_at ? `${a.acknowledged_by || ''} ${fmtTime(a.acknowledged_at)}` : '未签收'),
        a.closed_at ? [h('dt', {}, '处置'), h('dd', { 'data-testid': 'handling-record' }, `${a.closed_by || ''} ${fmtTime(a.closed_at)}：${a.outcome_label || a.outcome || ''}`),
          h('dt', {}, '处置说明'), h('dd', {}, a.handling_note || '—')] : null),
      h('p', { class: 'row small' },
        h('a', { href: `#/persons/${a.person_id}` }, '人员档案'),
        h('a', { href: `#/persons/${a.person_id}/track${qs({ from: windowFrom })}` }, '轨迹回放'),
        h('a', { href: `#/persons/${a.person_id}/fences` }, '电子围栏')),
      open && can.handleAlarms() ? handlingForm(a) : null,
      h('h2', {}, '报警历史'),
      historyList(data.events),
    );
  }

  function handlingForm(a) {
    const outcome = select('outcome', [['', '请选择处置结果…']], '', { 'data-testid': 'handle-outcome', required: true });
    outcomes().then((list) => list.forEach((o) => outcome.append(h('option', { value: o.code }, o.label)))).catch(() => {});
    const note = h('textarea', { name: 'note', rows: 3, 'data-testid': 'handle-note', placeholder: '如：电话核实，本人在家', maxlength: 2000 });
    const count = h('div', { class: 'small muted' }, '至少 5 个字');
    note.addEventListener('input', () => (count.textContent = `${[...note.value.trim()].length} 字（至少 5 个字）`));
    const form = h('form', { class: 'panel', 'aria-label': '处置报警', novalidate: true },
      h('h2', { style: 'margin-top:0' }, '处置'),
      a.state === 'open' ? h('p', {}, h('button', { type: 'button', 'data-testid': 'handle-ack', onclick: () => act('acknowledge') }, '签收'),
        h('span', { class: 'muted small' }, ' 签收表示已知悉并开始核查')) : null,
      field('处置结果', outcome), field('处置说明', note), count,
      formError(),
      h('div', { class: 'row' },
        h('button', { type: 'submit', class: 'primary', 'data-testid': 'handle-resolve' }, '处置完毕'),
        h('button', { type: 'button', 'data-testid': 'handle-dismiss', onclick: () => act('dismiss') }, '误报')));
    form.addEventListener('submit', (ev) => { ev.preventDefault(); act('resolve'); });

    async function act(action) {
      showFormError(form, null);
      let body;
      if (action !== 'acknowledge') {
        if (!outcome.value) return showFormError(form, { field: 'outcome' }, '请选择处置结果');
        if ([...note.value.trim()].length < 5) return showFormError(form, { field: 'note' }, '处置说明至少 5 个字');
        body = { outcome: outcome.value, note: note.value.trim() };
      }
      form.querySelectorAll('button').forEach((b) => (b.disabled = true));
      try {
        data = await post(`/api/v1/alarms/${id}/${action}`, body);
        renderSide();
      } catch (e) {
        showFormError(form, e, describe(e));
        form.querySelectorAll('button').forEach((b) => (b.disabled = false));
        if (e.status === 409) reload();
      }
    }
    return form;
  }

  async function reload() {
    try {
      const fresh = await get(`/api/v1/alarms/${id}`, { signal: ctx.signal });
      const typing = side.querySelector('textarea') && side.querySelector('textarea').value;
      data = fresh;
      if (!typing) renderSide();
      else {
        const hist = side.querySelector('[data-testid="alarm-history"]');
        if (hist) hist.replaceWith(historyList(data.events));
      }
    } catch {
      /* keep what is shown */
    }
  }
  renderSide();
  const unsubscribe = subscribe((e) => { if (e.alarm_id === id && ctx.alive()) reload(); });
  ctx.signal.addEventListener('abort', unsubscribe);

  // The map: the person's fences (the alarm's own emphasised) and the fixes around the alarm.
  const a = data.alarm;
  const start = Date.parse(a.cause_fixed_at || a.opened_at) - 30 * 60e3;
  const endAt = Math.min(Date.now() + 60e3, Math.max(...[a.cause_fixed_at, a.last_evidence_at, a.returned_inside_at, a.opened_at].filter(Boolean).map(Date.parse)) + 30 * 60e3);
  const [profile, track] = await Promise.all([
    get(`/api/v1/persons/${a.person_id}`, { signal: ctx.signal }).catch(() => null),
    get(`/api/v1/persons/${a.person_id}/track${qs({ from: new Date(start).toISOString(), to: new Date(endAt).toISOString(), format: 'json' })}`, { signal: ctx.signal }).catch(() => null),
  ]);
  if (!ctx.alive()) return;
  const focus = [];
  for (const f of (profile && profile.fences) || []) {
    const mine = f.id === a.fence_id;
    const layer = fenceLayer(map, f, mine ? { weight: 4 } : { opacity: 0.6 }).addTo(map);
    if (mine) focus.push(layer);
  }
  if (track && track.points.length) {
    const causes = new Set(data.events.filter((e) => e.fixed_at && ['opened', 'left_again', 'confirmed'].includes(e.kind)).map((e) => Date.parse(e.fixed_at)));
    const pts = trackPoints(track.points, toMap, causes);
    const layer = new TrackLayer(pts).addTo(map);
    const causing = pts.filter((p) => causes.has(Date.parse(p.fix.time)));
    for (const p of causing) {
      L.circleMarker(p.latlng, { radius: 10, color: '#c62828', weight: 3, fill: false, renderer: map.canvasRenderer })
        .bindTooltip(`引发报警的定位：${fmtTime(p.fix.time)}，精度 ${Math.round(p.fix.accuracy_m || 0)} 米`).addTo(map);
    }
    focus.push(causing.length ? L.featureGroup(causing.map((p) => L.marker(p.latlng))) : layer);
  } else if (profile && profile.last_position) {
    const p = profile.last_position;
    focus.push(L.circleMarker(toMap(p.lat, p.lon), { radius: 7, color: '#1d4e89', renderer: map.canvasRenderer }).bindTooltip(`最后位置 ${fmtTime(p.at)}`).addTo(map));
  }
  fit(map, focus.length ? focus : [], 15);
  mapEl.dataset.ready = 'true';
}
