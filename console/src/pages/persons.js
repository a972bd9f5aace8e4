// 矫正人员: the persons in scope, with filters (name, level, office, released) and paging.
import { h, esc, fmtShortTime, select } from '../dom.js';
import { get, qs, describe } from '../api.js';
import { organisations } from '../session.js';
import { setQuery } from '../router.js';
import { LEVEL, CORRECTION, PERSON_STATUS, levelBadge } from '../labels.js';

export async function personsPage(main, ctx) {
  const q = ctx.query;
  const filters = { name: q.get('name') || '', level: q.get('level') || '', organisation: q.get('organisation') || '', released: q.get('released') || '' };
  const orgs = await organisations().catch(() => []);
  const status = h('div', { class: 'muted small', 'aria-live': 'polite' });
  const tbody = h('tbody', {});
  const more = h('button', { type: 'button', class: 'hidden', onclick: () => load(false) }, '加载更多');
  let next = null;

  const name = h('input', { type: 'search', id: 'pf-name', name: 'name', value: filters.name, placeholder: '姓名', size: 10 });
  const level = select('level', [['', '全部等级'], ...Object.entries(LEVEL)], filters.level, { id: 'pf-level' });
  const org = select('organisation', [['', '全部单位'], ...orgs.filter((o) => o.kind !== 'city').map((o) => [o.id, o.name])], filters.organisation, { id: 'pf-org' });
  const released = h('input', { type: 'checkbox', id: 'pf-released', checked: filters.released === 'true' });
  const form = h('form', { class: 'queue-tools', role: 'search', 'aria-label': '筛选人员' },
    h('div', { class: 'field' }, h('label', { for: 'pf-name' }, '姓名'), name),
    h('div', { class: 'field' }, h('label', { for: 'pf-level' }, '等级'), level),
    orgs.length > 1 ? h('div', { class: 'field' }, h('label', { for: 'pf-org' }, '单位'), org) : null,
    h('div', { class: 'field' }, h('label', { for: 'pf-released' }, '含已解矫'), released),
    h('div', { class: 'field' }, h('label', {}, '\u00a0'), h('button', { type: 'submit', class: 'primary' }, '查询')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    Object.assign(filters, { name: name.value.trim(), level: level.value, organisation: org.value, released: released.checked ? 'true' : '' });
    setQuery(filters);
    load(true);
  });

  main.replaceChildren(
    h('div', { class: 'page-head' }, h('h1', {}, '矫正人员'), status),
    form,
    h('div', { class: 'table-wrap' }, h('table', { class: 'list', 'data-testid': 'person-list' },
      h('thead', {}, h('tr', {}, ['编号', '姓名', '等级', '类别', '司法所', '县区', '状态', '最近定位', '未结报警', ''].map((t) => h('th', {}, t)))),
      tbody)),
    h('p', {}, more));

  async function load(reset) {
    if (reset) {
      tbody.replaceChildren();
      next = null;
    }
    status.textContent = '正在加载…';
    try {
      const r = await get(`/api/v1/persons${qs({ ...filters, before: next, limit: 200 })}`, { signal: ctx.signal });
      tbody.insertAdjacentHTML('beforeend', r.items.map((p) => `<tr data-testid="person-row" data-id="${p.id}">
        <td>${p.id}</td><td><a href="#/persons/${p.id}">${esc(p.name)}</a></td><td class="nowrap">${levelBadge(p.level, p.is_key, p.key_interval_min)}</td>
        <td>${esc(CORRECTION[p.correction_type] || p.correction_type)}</td><td>${esc(p.office_name)}</td><td>${esc(p.county_name)}</td>
        <td>${esc(PERSON_STATUS[p.status] || p.status)}</td><td class="nowrap">${fmtShortTime(p.last_fix_at)}</td>
        <td>${p.open_alarms ? `<span class="badge open">${p.open_alarms}</span>` : '0'}</td>
        <td class="nowrap"><a href="#/persons/${p.id}/track">轨迹</a> <a href="#/persons/${p.id}/fences">围栏</a></td></tr>`).join(''));
      next = r.next;
      more.classList.toggle('hidden', next == null);
      status.textContent = `已显示 ${tbody.children.length} 人${next != null ? '，还有更多' : ''}`;
      if (!tbody.children.length) tbody.innerHTML = '<tr><td colspan="10" class="muted">没有符合条件的人员。</td></tr>';
    } catch (e) {
      if (e.name !== 'AbortError') status.textContent = describe(e);
    }
  }
  await load(true);
}
