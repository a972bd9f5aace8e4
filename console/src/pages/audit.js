// 审计日志: every change and every read of location data, for auditors and the city bureau.
import { h, esc, fmtTime, fromLocalInput, toLocalInput, field, formError, showFormError } from '../dom.js';
import { get, qs, describe } from '../api.js';
import { AUDIT_ACTION } from '../labels.js';

export async function auditPage(main, ctx) {
  const q = ctx.query;
  const from = h('input', { type: 'datetime-local', name: 'from', value: q.get('from') ? toLocalInput(q.get('from')) : '' });
  const to = h('input', { type: 'datetime-local', name: 'to', value: q.get('to') ? toLocalInput(q.get('to')) : '' });
  const action = h('input', { name: 'action', list: 'audit-actions', size: 14, value: q.get('action') || '', placeholder: '如 track.export' });
  const staff = h('input', { name: 'staff', size: 12, value: q.get('staff') || '', placeholder: '用户名' });
  const person = h('input', { name: 'person', type: 'number', min: 1, style: 'width:90px', value: q.get('person') || '' });
  const tbody = h('tbody', {});
  const status = h('div', { class: 'muted small', 'aria-live': 'polite' });
  const more = h('button', { type: 'button', class: 'hidden', onclick: () => load(false) }, '加载更多');
  let next = null;
  const form = h('form', { class: 'queue-tools', role: 'search', 'aria-label': '筛选审计日志', novalidate: true },
    field('开始', from), field('结束', to), field('操作', action), field('账号', staff), field('人员编号', person),
    h('div', { class: 'field' }, h('label', {}, '\u00a0'), h('button', { type: 'submit', class: 'primary' }, '查询')), formError(),
    h('datalist', { id: 'audit-actions' }, Object.entries(AUDIT_ACTION).map(([v, t]) => h('option', { value: v }, t))));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); load(true); });
  main.replaceChildren(h('div', { class: 'page-head' }, h('h1', {}, '审计日志'), status), form,
    h('div', { class: 'table-wrap' }, h('table', { class: 'list', 'data-testid': 'audit-list' },
      h('thead', {}, h('tr', {}, ['时间', '账号', '操作', '对象', '人员', '详情', '地址'].map((t) => h('th', {}, t)))), tbody)),
    h('p', {}, more));

  async function load(reset) {
    showFormError(form, null);
    if (reset) {
      tbody.replaceChildren();
      next = null;
    }
    status.textContent = '正在加载…';
    try {
      const params = { from: fromLocalInput(from.value), to: fromLocalInput(to.value), action: action.value.trim(), staff: staff.value.trim(), person: person.value };
      const r = await get(`/api/v1/audit${qs({ ...params, before: next, limit: 200 })}`, { signal: ctx.signal });
      tbody.insertAdjacentHTML('beforeend', r.items.map((x) => `<tr data-testid="audit-row"><td class="nowrap">${esc(fmtTime(x.at))}</td><td>${esc(x.staff || '系统')}</td>
        <td>${esc(AUDIT_ACTION[x.action] || x.action)} <span class="muted small">${esc(x.action)}</span></td><td>${esc(x.subject)}</td>
        <td>${x.person_id ? `<a href="#/persons/${x.person_id}">#${x.person_id}</a>` : '—'}</td>
        <td class="small">${esc(Object.keys(x.details || {}).length ? JSON.stringify(x.details) : '')}</td><td class="small">${esc(x.address || '')}</td></tr>`).join(''));
      next = r.next;
      more.classList.toggle('hidden', next == null);
      status.textContent = `已显示 ${tbody.children.length} 条`;
    } catch (e) {
      if (e.name === 'AbortError') return;
      showFormError(form, e, describe(e));
      status.textContent = '';
    }
  }
  await load(true);
}
