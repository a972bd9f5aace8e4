// 人员档案: profile, level and its history, legal bases with their expiry, phones with last
// contact and battery, fences on the map, recent alarms, leaves and level assessments.
import { h, esc, fmtTime, fmtDay, since } from '../dom.js';
import { get, describe, qs } from '../api.js';
import { message } from '../shell.js';
import { KIND, STATE, CORRECTION, PERSON_STATUS, BASIS, PROTOCOL, FENCE_KIND, SHAPE, LEAVE_STATE, WEEKDAYS, VERDICT, levelBadge } from '../labels.js';
import { compliance } from '../verdict.js';
import { createMap, fenceLayer, fit, toMap, dot } from '../map.js';
import { assessmentSection } from './assessments.js';

export function scheduleText(schedule) {
  if (!Array.isArray(schedule) || !schedule.length) return '全天';
  return schedule.map((w) => {
    const days = (w.days || []).length === 7 ? '每天' : `周${(w.days || []).map((d) => WEEKDAYS[d - 1]).join('、')}`;
    return `${days} ${w.from}–${w.to}`;
  }).join('；');
}

export function validityText(f) {
  if (!f.valid_from && !f.valid_to) return '长期';
  return `${f.valid_from ? fmtTime(f.valid_from) : '即日'} 至 ${f.valid_to ? fmtTime(f.valid_to) : '长期'}`;
}

function basisExpiry(b) {
  if (b.revoked_at) return h('span', { class: 'badge dismissed' }, `已撤销 ${fmtDay(b.revoked_at)}`);
  if (!b.ends_at) return h('span', { class: 'badge approved' }, '长期有效');
  const days = (Date.parse(b.ends_at) - Date.now()) / 86400e3;
  if (days < 0) return h('span', { class: 'badge dismissed' }, `已于 ${fmtDay(b.ends_at)} 到期`);
  if (days <= 7) return h('span', { class: 'badge open', 'data-testid': 'basis-expiring' }, `${Math.ceil(days)} 天后到期（${fmtDay(b.ends_at)}）`);
  return h('span', {}, `至 ${fmtDay(b.ends_at)}`);
}

const table = (testid, headers, rows, empty) => h('div', { class: 'table-wrap' }, h('table', { class: 'list', 'data-testid': testid },
  h('thead', {}, h('tr', {}, headers.map((t) => h('th', {}, t)))),
  h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: headers.length, class: 'muted' }, empty)))));

/** The last fixes of the past 24 hours, newest first (a trajectory read: audited by the server). */
async function loadRecentFixes(el, id, ctx, fenceNames) {
  try {
    const from = new Date(Date.now() - 24 * 3600e3).toISOString();
    const r = await get(`/api/v1/persons/${id}/track${qs({ from, format: 'json' })}`, { signal: ctx.signal });
    const last = r.points.slice(-10).reverse();
    el.replaceChildren(table('recent-fix-table', ['时间', '判定', '精度', '来源', '电量', '围栏'], last.map((f) => {
      const v = compliance(f.verdicts);
      return h('tr', {},
        h('td', {}, fmtTime(f.time)),
        h('td', {}, h('span', { class: `badge ${v === 'outside' ? 'open' : v === 'uncertain' ? 'acknowledged' : 'approved'}` }, VERDICT[v])),
        h('td', {}, f.accuracy_m == null ? '—' : `${Math.round(f.accuracy_m)} 米`),
        h('td', {}, `${f.source}${f.mock ? '（虚拟定位）' : ''}${f.implausible ? '（跳变）' : ''}`),
        h('td', {}, f.battery_pct == null ? '—' : `${f.battery_pct}%`),
        h('td', { class: 'small muted' }, (f.verdicts || []).map((x) => `${fenceNames.get(x.fence) || `#${x.fence}`}：${Math.round(x.distance_m)} 米`).join('；')));
    }), '24 小时内没有定位。'), h('p', { class: 'small' }, h('a', { href: `#/persons/${id}/track` }, `共 ${r.points.length} 个定位，查看轨迹回放`)));
  } catch (e) {
    if (e.name !== 'AbortError') el.replaceChildren(h('p', { class: 'error' }, describe(e)));
  }
}

export async function personPage(main, ctx) {
  const id = Number(ctx.params.id);
  let p;
  try {
    p = await get(`/api/v1/persons/${id}`, { signal: ctx.signal });
  } catch (e) {
    if (e.name === 'AbortError') return;
    return message(main, e.status === 404 ? '未找到该人员' : '无法打开人员档案',
      e.status === 404 ? '该人员不存在，或不在本单位管辖范围内。' : describe(e), 'not-found');
  }
  const person = p.person;
  const leaves = await get(`/api/v1/leaves${qs({ person: id, limit: 50 })}`, { signal: ctx.signal }).catch(() => ({ items: [] }));
  if (!ctx.alive()) return;
  const mapEl = h('div', { class: 'map small', 'data-testid': 'person-map', role: 'region', 'aria-label': '围栏与最后位置' });
  const assessments = h('section', { 'aria-label': '分级评估', id: 'assessments' });
  const recentFixes = h('div', { 'data-testid': 'recent-fixes' }, h('p', { class: 'muted small' }, '正在加载…'));

  main.replaceChildren(
    h('div', { class: 'page-head' },
      h('h1', { 'data-testid': 'person-name' }, person.name),
      h('span', { html: levelBadge(person.level, person.is_key, person.key_interval_min) }),
      h('span', { class: 'muted' }, `#${person.id} · ${person.office_name} · ${person.county_name}`),
      h('a', { href: `#/persons/${id}/track`, 'data-testid': 'link-track' }, '轨迹回放'),
      h('a', { href: `#/persons/${id}/fences`, 'data-testid': 'link-fences' }, '电子围栏'),
      h('a', { href: `#/leaves${qs({ person: id })}` }, '请假外出')),
    h('div', { class: 'grid2' },
      h('div', { class: 'panel' },
        h('h2', { style: 'margin-top:0' }, '基本情况'),
        h('dl', { class: 'kv', 'data-testid': 'person-profile' },
          h('dt', {}, '管理等级'), h('dd', { html: `${levelBadge(person.level, person.is_key, person.key_interval_min)}${person.is_key ? ` 每 ${person.key_interval_min || 60} 分钟定位` : ''}` }),
          h('dt', {}, '矫正类别'), h('dd', {}, CORRECTION[person.correction_type] || person.correction_type),
          h('dt', {}, '矫正期限'), h('dd', {}, `${person.term_start} 至 ${person.term_end}`),
          h('dt', {}, '状态'), h('dd', {}, PERSON_STATUS[person.status] || person.status),
          h('dt', {}, '司法所'), h('dd', {}, `${person.office_name}（${person.county_name}）`),
          h('dt', {}, '最近定位'), h('dd', {}, p.last_position ? `${fmtTime(p.last_position.at)}（${since(p.last_position.at)}前）` : '暂无'),
          h('dt', {}, '下次定位'), h('dd', {}, fmtTime(person.next_due_at)),
          h('dt', {}, '未结报警'), h('dd', {}, String(person.open_alarms)))),
      h('div', {}, mapEl)),
    h('h2', {}, '定位依据'),
    table('bases', ['类型', '文书', '起始', '有效期', '状态'], p.bases.map((b) => h('tr', {},
      h('td', {}, BASIS[b.kind] || b.kind), h('td', {}, b.document_ref), h('td', {}, fmtDay(b.starts_at)), h('td', {}, basisExpiry(b)),
      h('td', {}, b.in_force ? h('span', { class: 'badge approved' }, '有效') : h('span', { class: 'badge dismissed' }, '无效')))),
    '没有定位依据：不会接收该人员的定位。'),
    h('h2', {}, '手机'),
    table('phones', ['编号', '客户端', '登记号', '登记时间', '最后联系', '电量', '状态'], p.phones.map((d) => h('tr', {},
      h('td', {}, d.id), h('td', {}, PROTOCOL[d.protocol] || d.protocol), h('td', {}, d.enrolment_id), h('td', {}, fmtTime(d.enrolled_at)),
      h('td', {}, d.last_contact_at ? `${fmtTime(d.last_contact_at)}（${since(d.last_contact_at)}前）` : '从未联系'),
      h('td', {}, d.battery_pct == null ? '—' : h('span', { class: d.battery_pct < 20 ? 'badge open' : '' }, `${d.battery_pct}%`)),
      h('td', {}, d.retired_at ? `已停用 ${fmtDay(d.retired_at)}` : '使用中'))),
    '没有登记手机。'),
    h('h2', {}, '电子围栏'),
    table('fences', ['名称', '类型', '形状', '时段', '有效期', '来源'], p.fences.map((f) => h('tr', { 'data-testid': 'fence-row', 'data-id': f.id },
      h('td', {}, f.name), h('td', {}, FENCE_KIND[f.kind] || f.kind),
      h('td', {}, `${SHAPE[f.shape] || f.shape}${f.radius_m ? `，半径 ${Math.round(f.radius_m)} 米` : ''}${f.half_width_m ? `，半宽 ${Math.round(f.half_width_m)} 米` : ''}`),
      h('td', {}, scheduleText(f.schedule)), h('td', {}, validityText(f)),
      h('td', {}, f.shared ? '共用（辖区）' : f.leave_id ? `请假 #${f.leave_id}` : '个人'))),
    '没有围栏。'),
    h('h2', {}, '最近定位'),
    recentFixes,
    h('h2', {}, '最近报警'),
    table('recent-alarms', ['报警', '状态', '报警时间', '处置'], p.recent_alarms.map((a) => h('tr', {},
      h('td', { html: `<a href="#/alarms/${a.id}">${esc(KIND[a.kind] || a.kind)}</a> <span class="muted small">#${a.id}</span>` }),
      h('td', {}, h('span', { class: `badge ${a.state}` }, STATE[a.state] || a.state)), h('td', {}, fmtTime(a.opened_at)),
      h('td', {}, a.closed_at ? `${a.closed_by || ''}：${a.outcome_label || ''} ${a.handling_note || ''}` : '—'))),
    '没有报警。'),
    h('h2', {}, '请假外出'),
    table('person-leaves', ['编号', '事由', '时间', '状态', '离开/返回'], leaves.items.map((l) => h('tr', {},
      h('td', {}, `#${l.id}`), h('td', {}, l.reason), h('td', {}, `${fmtTime(l.starts_at)} 至 ${fmtTime(l.ends_at)}`),
      h('td', {}, h('span', { class: `badge ${l.state}` }, LEAVE_STATE[l.state] || l.state)),
      h('td', {}, `${l.departed_at ? fmtTime(l.departed_at) : '—'} / ${l.returned_at ? fmtTime(l.returned_at) : '—'}`))),
    '没有请假记录。'),
    assessments,
  );

  const map = createMap(mapEl);
  const layers = p.fences.map((f) => fenceLayer(map, f).addTo(map));
  if (p.last_position) {
    const m = dot(toMap(p.last_position.lat, p.last_position.lon), '#1d4e89', 7, map.canvasRenderer)
      .bindTooltip(`最后位置：${fmtTime(p.last_position.at)}`).addTo(map);
    layers.push(m);
  }
  fit(map, layers, 14);
  assessmentSection(assessments, person, ctx);
  loadRecentFixes(recentFixes, id, ctx, new Map(p.fences.map((f) => [f.id, f.name])));
  if (ctx.query.get('section') === 'assessments') assessments.scrollIntoView();
}
