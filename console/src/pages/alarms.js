// 报警队列: open and acknowledged alarms in scope, most urgent first, live over server-sent
// events (a new one sounds and is highlighted), with filters, keyboard use (j/k or arrows to
// move, a to acknowledge, Enter to open, x to select) and bulk acknowledgement.
import { h, esc, fmtShortTime, since, select } from '../dom.js';
import { get, post, getAll, describe } from '../api.js';
import { session, can, organisations } from '../session.js';
import { go, setQuery } from '../router.js';
import { subscribe } from '../live.js';
import { KIND, KIND_URGENCY, LEVEL, LEVEL_URGENCY, STATE, STEP, STEP_RANK, levelBadge } from '../labels.js';

/** The escalation step an alarm has reached: the server's `escalation_step` when it sends one. */
const stepOf = (a) => a.escalation_step || (a.overnight ? 'overnight' : null);

function urgency(a) {
  return (a.state === 'open' ? 10000 : 0) + (STEP_RANK[stepOf(a)] || 0) * 1000 + (a.is_key ? 500 : 0)
    + (KIND_URGENCY[a.kind] || 0) * 20 + (LEVEL_URGENCY[a.level] || 0) * 5;
}

/** Every row is this tall, so that only the rows in view need to exist (1,000 laid out at once take seconds). */
const ROW_H = 48;
const OVERSCAN = 15;

const byNewest = (x, y) => (x.opened_at < y.opened_at ? 1 : x.opened_at > y.opened_at ? -1 : y.id - x.id);

export async function alarmsPage(main, ctx) {
  performance.clearMarks('queue:request');
  performance.mark('queue:request');
  const q = ctx.query;
  const filters = {
    state: q.get('state') || '', kind: q.get('kind') || '', level: q.get('level') || '', key: q.get('key') || '',
    office: q.get('office') || '', name: q.get('name') || '', sort: q.get('sort') || 'urgent',
  };
  const alarms = new Map();
  const selected = new Set();
  let cursor = null;
  let shown = [];
  const writer = can.handleAlarms();

  // ---- frame ----
  const status = h('div', { class: 'muted small', 'aria-live': 'polite', 'data-testid': 'queue-status' }, '正在加载报警…');
  const banner = h('div', { class: 'banner hidden', role: 'alert', 'data-testid': 'new-alarm-banner' });
  const bulkButton = h('button', { type: 'button', class: 'primary', 'data-testid': 'bulk-ack', disabled: true, onclick: bulkAcknowledge }, '批量签收');
  const allBox = h('input', { type: 'checkbox', 'aria-label': '全选当前列表', 'data-testid': 'select-all', onchange: () => {
    shown.forEach((a) => (allBox.checked ? selected.add(a.id) : selected.delete(a.id)));
    draw();
  } });
  const tbody = h('tbody', {});
  const scroller = h('div', { class: 'table-wrap queue-scroll', 'data-testid': 'queue-scroll' });
  const cols = writer ? [36, 150, 110, 110, 130, 100, 110, 100, 110, 120] : [150, 110, 110, 130, 100, 110, 100, 110, 90];
  const table = h('table', { class: 'list queue', 'data-testid': 'alarm-queue', 'aria-label': '报警队列', 'aria-rowcount': 0 },
    h('colgroup', {}, cols.map((w) => h('col', { style: `width:${w}px` }))),
    h('thead', {}, h('tr', {},
      writer ? h('th', { class: 'nowrap' }, allBox) : null,
      h('th', {}, '报警'), h('th', {}, '人员'), h('th', {}, '等级'), h('th', {}, '司法所'), h('th', {}, '状态'),
      h('th', {}, '升级'), h('th', {}, '已持续'), h('th', {}, '报警时间'), h('th', {}, '操作'))),
    tbody);

  const orgs = await organisations().catch(() => []);
  const offices = orgs.filter((o) => o.kind === 'office');
  const control = (name, label, el) => {
    el.id = `qf-${name}`;
    el.addEventListener('change', () => {
      filters[name] = el.type === 'checkbox' ? (el.checked ? '1' : '') : el.value;
      setQuery(filters);
      draw();
    });
    if (el.type === 'search') el.addEventListener('input', () => { filters[name] = el.value; draw(); });
    return h('div', { class: 'field' }, h('label', { for: el.id }, label), el);
  };
  const keyBox = h('input', { type: 'checkbox', checked: filters.key === '1' });
  const tools = h('div', { class: 'queue-tools', role: 'search', 'aria-label': '筛选报警' },
    control('state', '状态', select('state', [['', '待处置和已签收'], ['open', '待处置'], ['acknowledged', '已签收']], filters.state, { 'data-testid': 'filter-state' })),
    control('kind', '类型', select('kind', [['', '全部类型'], ...Object.entries(KIND)], filters.kind, { 'data-testid': 'filter-kind' })),
    control('level', '等级', select('level', [['', '全部等级'], ...Object.entries(LEVEL)], filters.level)),
    offices.length > 1 ? control('office', '司法所', select('office', [['', '全部司法所'], ...offices.map((o) => [o.id, o.name])], filters.office)) : null,
    control('name', '姓名', h('input', { type: 'search', value: filters.name, placeholder: '按姓名查找', size: 10 })),
    h('div', { class: 'field' }, h('label', { for: 'qf-key' }, '重点人员'), h('div', {}, Object.assign(keyBox, { id: 'qf-key' }), ' 仅看重点')),
    control('sort', '排序', select('sort', [['urgent', '最紧急优先'], ['newest', '最新优先']], filters.sort)),
    writer ? h('div', { class: 'field' }, h('label', {}, '\u00a0'), bulkButton) : null,
  );
  keyBox.addEventListener('change', () => { filters.key = keyBox.checked ? '1' : ''; setQuery(filters); draw(); });
  main.replaceChildren(
    h('div', { class: 'page-head' }, h('h1', {}, '报警队列'), status),
    banner,
    tools,
    h('p', { class: 'muted small' }, '键盘：', h('span', { class: 'kbd' }, 'j'), '/', h('span', { class: 'kbd' }, '↓'), ' 下一条，',
      h('span', { class: 'kbd' }, 'k'), '/', h('span', { class: 'kbd' }, '↑'), ' 上一条，',
      writer ? [h('span', { class: 'kbd' }, 'a'), ' 签收，', h('span', { class: 'kbd' }, 'x'), ' 选择，'] : null,
      h('span', { class: 'kbd' }, 'Enter'), ' 打开处置'),
    scroller,
  );

  scroller.append(table);
  // The ids in the queue as filtered and sorted (tests and tools read them; the DOM holds only the rows in view).
  table.alarmIds = () => shown.map((a) => a.id);
  table.alarmEntries = () => shown.map((a) => ({ id: a.id, person_id: a.person_id, kind: a.kind, state: a.state, isNew: !!a._new }));

  // ---- data ----
  function put(a, isNew = false) {
    const old = alarms.get(a.id);
    alarms.set(a.id, { ...old, ...a, _new: a._new === false ? false : Boolean(isNew || (old && old._new)) });
  }

  function visible() {
    const name = filters.name.trim();
    const list = [...alarms.values()].filter((a) =>
      (!filters.state || a.state === filters.state) && (!filters.kind || a.kind === filters.kind)
      && (!filters.level || a.level === filters.level) && (!filters.key || a.is_key)
      && (!filters.office || String(a.office_id) === filters.office) && (!name || a.person_name.includes(name)));
    return filters.sort === 'newest' ? list.sort(byNewest) : list.sort((x, y) => urgency(y) - urgency(x) || byNewest(x, y));
  }

  function rowHtml(a) {
    const step = stepOf(a);
    const cls = [`state-${a.state}`, a._new ? 'new' : '', a.id === cursor ? 'cursor' : ''].join(' ');
    return `<tr class="qrow ${cls}" data-id="${a.id}" data-testid="alarm-row" data-kind="${esc(a.kind)}" data-state="${esc(a.state)}" data-person="${a.person_id}">`
      + (writer ? `<td><input type="checkbox" data-select="${a.id}" aria-label="选择报警 #${a.id}"${selected.has(a.id) ? ' checked' : ''}></td>` : '')
      + `<td><a href="#/alarms/${a.id}" data-testid="alarm-open"><b>${esc(KIND[a.kind] || a.kind)}</b></a>${a._new ? ' <span class="badge open">新</span>' : ''}<div class="muted small">#${a.id}${a.fence_name ? ` · ${esc(a.fence_name)}` : ''}</div></td>`
      + `<td><a href="#/persons/${a.person_id}">${esc(a.person_name)}</a></td>`
      + `<td class="nowrap">${levelBadge(a.level, a.is_key)}</td>`
      + `<td>${esc(a.office_name)}</td>`
      + `<td><span class="badge ${a.state}" data-testid="alarm-state">${STATE[a.state] || a.state}</span>${a.acknowledged_by ? `<div class="muted small">${esc(a.acknowledged_by)}</div>` : ''}</td>`
      + `<td>${step ? `<span class="badge step">${STEP[step] || step}</span>` : '<span class="muted">—</span>'}</td>`
      + `<td class="nowrap" data-opened="${esc(a.opened_at)}">${since(a.opened_at)}</td>`
      + `<td class="nowrap">${fmtShortTime(a.opened_at)}</td>`
      + `<td class="nowrap">${writer && a.state === 'open' ? `<button type="button" data-ack="${a.id}" data-testid="ack">签收</button> ` : ''}<a href="#/alarms/${a.id}">${writer ? '处置' : '查看'}</a></td></tr>`;
  }

  let windowKey = '';
  /** Renders the rows in view (and a few around them) between two spacer rows. */
  function renderWindow(force = false) {
    const n = shown.length;
    const first = Math.max(0, Math.floor(scroller.scrollTop / ROW_H) - OVERSCAN);
    const last = Math.min(n, Math.ceil((scroller.scrollTop + (scroller.clientHeight || 600)) / ROW_H) + OVERSCAN);
    const key = `${first}:${last}`;
    if (!force && key === windowKey) return;
    windowKey = key;
    if (!n) {
      tbody.innerHTML = `<tr><td colspan="${cols.length}" class="muted" data-testid="queue-empty">没有符合条件的报警。</td></tr>`;
      return;
    }
    const spacer = (rows) => (rows > 0 ? `<tr aria-hidden="true" class="spacer"><td colspan="${cols.length}" style="height:${rows * ROW_H}px;padding:0;border:0"></td></tr>` : '');
    tbody.innerHTML = spacer(first) + shown.slice(first, last).map(rowHtml).join('') + spacer(n - last);
  }
  let scrollQueued = false;
  scroller.addEventListener('scroll', () => {
    if (scrollQueued) return;
    scrollQueued = true;
    requestAnimationFrame(() => {
      scrollQueued = false;
      renderWindow();
    });
  });

  function draw() {
    shown = visible();
    if (cursor !== null && !alarms.has(cursor)) cursor = null;
    table.setAttribute('aria-rowcount', String(shown.length));
    renderWindow(true);
    const open = [...alarms.values()].filter((a) => a.state === 'open').length;
    status.textContent = `共 ${alarms.size} 条（待处置 ${open} 条），显示 ${shown.length} 条`;
    for (const id of [...selected]) if (!alarms.has(id)) selected.delete(id);
    bulkButton.disabled = selected.size === 0;
    bulkButton.textContent = selected.size ? `批量签收（${selected.size}）` : '批量签收';
    allBox.checked = shown.length > 0 && shown.every((a) => selected.has(a.id));
  }

  function moveCursor(delta) {
    if (!shown.length) return;
    let i = shown.findIndex((a) => a.id === cursor);
    i = i < 0 ? 0 : Math.max(0, Math.min(shown.length - 1, i + delta));
    setCursor(shown[i].id);
  }

  function setCursor(id) {
    cursor = id;
    const i = shown.findIndex((a) => a.id === id);
    if (i >= 0) {
      // Scroll the row into view below the sticky header, then draw what is in view.
      const head = table.tHead ? table.tHead.offsetHeight : 0;
      const top = head + i * ROW_H;
      if (top - head < scroller.scrollTop) scroller.scrollTop = top - head;
      else if (top + ROW_H > scroller.scrollTop + scroller.clientHeight) scroller.scrollTop = top + ROW_H - scroller.clientHeight;
    }
    renderWindow(true);
  }

  async function acknowledge(id) {
    const a = alarms.get(id);
    if (!a || a.state !== 'open' || !writer) return;
    const at = shown.findIndex((x) => x.id === id);
    try {
      const r = await post(`/api/v1/alarms/${id}/acknowledge`, {});
      put({ ...r.alarm, _new: false });
      draw();
      // The acknowledged alarm sorts lower: the cursor stays where it was, on the next one.
      if (cursor === id && shown[at] && shown[at].id !== id) setCursor(shown[at].id);
    } catch (e) {
      if (e.status === 409 || e.status === 404) await refreshOne(id);
      status.textContent = describe(e);
    }
  }

  async function bulkAcknowledge() {
    const ids = [...selected].filter((id) => alarms.get(id) && alarms.get(id).state === 'open');
    if (!ids.length) {
      status.textContent = '所选报警均已签收。';
      return;
    }
    bulkButton.disabled = true;
    let done = 0;
    const refused = [];
    try {
      for (let i = 0; i < ids.length; i += 500) {
        const r = await post('/api/v1/alarms/acknowledge', { ids: ids.slice(i, i + 500) });
        for (const id of r.acknowledged) {
          const a = alarms.get(id);
          if (a) put({ ...a, state: 'acknowledged', acknowledged_by: session.user.username, acknowledged_at: new Date().toISOString(), _new: false });
        }
        done += r.acknowledged.length;
        refused.push(...r.refused);
      }
      selected.clear();
      draw();
      status.textContent = `已签收 ${done} 条${refused.length ? `，${refused.length} 条未签收（${refused.map((x) => `#${x.id}`).join('、')}）` : ''}。`;
    } catch (e) {
      status.textContent = describe(e);
      draw();
    }
  }

  async function refreshOne(id) {
    try {
      const r = await get(`/api/v1/alarms/${id}`, { signal: ctx.signal });
      if (r.alarm.state === 'open' || r.alarm.state === 'acknowledged') put(r.alarm);
      else alarms.delete(id);
      return r;
    } catch (e) {
      if (e.status === 404) alarms.delete(id);
      return null;
    }
  }

  // ---- events ----
  tbody.addEventListener('click', (ev) => {
    const t = ev.target;
    const row = t.closest('tr[data-id]');
    if (!row) return;
    const id = Number(row.dataset.id);
    if (t.dataset.ack) {
      acknowledge(Number(t.dataset.ack));
      return;
    }
    if (t.dataset.select) {
      if (t.checked) selected.add(id);
      else selected.delete(id);
      bulkButton.disabled = selected.size === 0;
      bulkButton.textContent = selected.size ? `批量签收（${selected.size}）` : '批量签收';
      return;
    }
    setCursor(id);
  });
  tbody.addEventListener('dblclick', (ev) => {
    const row = ev.target.closest('tr[data-id]');
    if (row && !ev.target.closest('a,button,input')) go(`/alarms/${row.dataset.id}`);
  });
  document.addEventListener('keydown', (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const tag = (ev.target.tagName || '').toLowerCase();
    if (['input', 'select', 'textarea'].includes(tag)) return;
    if (tag === 'button' && ev.key === 'Enter') return;
    if (tag === 'a' && ev.key === 'Enter') return;
    switch (ev.key) {
      case 'j': case 'ArrowDown': moveCursor(1); break;
      case 'k': case 'ArrowUp': moveCursor(-1); break;
      case 'a': if (cursor !== null) acknowledge(cursor); break;
      case 'x': case ' ':
        if (cursor === null || !writer) return;
        if (selected.has(cursor)) selected.delete(cursor);
        else selected.add(cursor);
        draw();
        break;
      case 'Enter': if (cursor !== null) go(`/alarms/${cursor}`); break;
      default: return;
    }
    ev.preventDefault();
  }, { signal: ctx.signal });

  let newIds = [];
  function announce(a) {
    newIds.push(a.id);
    banner.classList.remove('hidden');
    banner.replaceChildren(
      h('span', {}, `新报警 ${newIds.length} 条：最新 ${KIND[a.kind] || a.kind} · ${a.person_name}（${a.office_name}）`),
      h('button', { type: 'button', 'data-testid': 'new-alarm-locate', onclick: () => { setCursor(newIds[newIds.length - 1]); } }, '定位'),
      h('button', { type: 'button', 'aria-label': '关闭新报警提示', onclick: () => {
        newIds = [];
        banner.classList.add('hidden');
        for (const x of alarms.values()) x._new = false;
        draw();
      } }, '知道了'));
  }

  const pending = [];
  let loaded = false;
  async function onEvent(e) {
    if (!e.alarm_id) return;
    if (!loaded) {
      pending.push(e);
      return;
    }
    const a = alarms.get(e.alarm_id);
    switch (e.kind) {
      case 'opened': {
        if (a) return;
        const r = await refreshOne(e.alarm_id);
        if (r && alarms.has(e.alarm_id)) {
          put(r.alarm, true);
          announce(r.alarm);
        }
        break;
      }
      case 'resolved':
      case 'dismissed':
        alarms.delete(e.alarm_id);
        selected.delete(e.alarm_id);
        break;
      case 'acknowledged':
        if (a) put({ ...a, state: 'acknowledged', acknowledged_by: e.by, acknowledged_at: e.at });
        else await refreshOne(e.alarm_id);
        break;
      case 'escalated':
      case 'overnight': {
        const step = e.kind === 'overnight' ? 'overnight' : e.details && e.details.step;
        if (a) put({ ...a, escalation_step: (STEP_RANK[step] || 0) > (STEP_RANK[stepOf(a)] || 0) ? step : stepOf(a), overnight: a.overnight || step === 'overnight' });
        else await refreshOne(e.alarm_id);
        break;
      }
      case 'returned_inside':
        if (a) put({ ...a, returned_inside_at: e.fixed_at });
        break;
      default:
        if (!a && (e.to_state === 'open' || e.to_state === 'acknowledged')) await refreshOne(e.alarm_id);
        return;
    }
    if (ctx.alive()) draw();
  }
  const unsubscribe = subscribe((e) => onEvent(e).catch(() => {}));
  ctx.signal.addEventListener('abort', unsubscribe);
  const ticker = setInterval(() => {
    for (const td of tbody.querySelectorAll('td[data-opened]')) td.textContent = since(td.dataset.opened);
  }, 30000);
  ctx.signal.addEventListener('abort', () => clearInterval(ticker));

  // ---- load ----
  try {
    const items = await getAll('/api/v1/alarms', { state: 'open,acknowledged' }, { signal: ctx.signal });
    performance.clearMarks('queue:response');
    performance.mark('queue:response');
    for (const a of items) put(a);
  } catch (e) {
    if (e.name === 'AbortError') return;
    status.textContent = describe(e);
    return;
  }
  loaded = true;
  draw();
  if (shown.length) setCursor(shown[0].id);
  for (const e of pending.splice(0)) await onEvent(e);
  // After the next frame has been painted.
  requestAnimationFrame(() => setTimeout(() => {
    performance.clearMarks('queue:rendered');
    performance.mark('queue:rendered');
    table.dataset.ready = 'true';
  }, 0));
}
