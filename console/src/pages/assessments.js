// 分级评估: the office proposes a level with the score of each item (社区服刑人员管理级别评定表);
// the county (or city) approves or rejects; the level changes on approval. Shown in the person
// view; the page lists the persons in scope to open one.
import { h, fill, esc, fmtTime, field, formError, showFormError, select } from '../dom.js';
import { get, post, describe, qs } from '../api.js';
import { can } from '../session.js';
import { LEVEL, ASSESSMENT_STATE, levelBadge } from '../labels.js';

const DEFAULT_ITEMS = ['犯罪情况', '悔罪表现', '遵纪守法', '家庭及社会关系', '就业与生活来源', '心理状况'];

export async function assessmentSection(container, person, ctx) {
  container.replaceChildren(h('h2', {}, '管理等级与分级评估'), h('p', { class: 'muted' }, '正在加载…'));
  let items;
  try {
    items = (await get(`/api/v1/persons/${person.id}/assessments`, { signal: ctx.signal })).items;
  } catch (e) {
    if (e.name === 'AbortError') return;
    container.replaceChildren(h('h2', {}, '管理等级与分级评估'), h('p', { class: 'error' }, describe(e)));
    return;
  }
  const history = items.filter((a) => a.state === 'approved').map((a) => h('li', { html:
    `${esc(fmtTime(a.decided_at))}：调整为 ${levelBadge(a.proposed_level, a.proposed_key)}（评估 #${a.id}，${esc(a.decided_by || '')} 批准）` }));
  const rows = items.map((a) => {
    const actions = a.state === 'proposed' && can.decideLevel() ? decideButtons(a) : null;
    return h('tr', { 'data-testid': 'assessment-row', 'data-id': a.id },
      h('td', {}, `#${a.id}`), h('td', {}, fmtTime(a.proposed_at)), h('td', {}, a.proposed_by),
      h('td', { html: levelBadge(a.proposed_level, a.proposed_key) }), h('td', {}, String(a.total)),
      h('td', { class: 'small' }, Object.entries(a.scores || {}).map(([k, v]) => `${k} ${v}`).join('；')),
      h('td', {}, h('span', { class: `badge ${a.state}` }, ASSESSMENT_STATE[a.state] || a.state),
        a.decided_at ? h('div', { class: 'small muted' }, `${a.decided_by || ''} ${fmtTime(a.decided_at)}${a.decision_note ? `：${a.decision_note}` : ''}`) : null),
      h('td', {}, actions));
  });

  function decideButtons(a) {
    const note = h('input', { name: 'note', placeholder: '意见（可选）', size: 10, 'aria-label': `评估 #${a.id} 审批意见` });
    const err = h('div', { class: 'error', role: 'alert' });
    const decide = async (what) => {
      err.textContent = '';
      try {
        await post(`/api/v1/assessments/${a.id}/${what}`, note.value.trim() ? { note: note.value.trim() } : {});
        assessmentSection(container, person, ctx);
      } catch (e) {
        err.textContent = describe(e);
      }
    };
    return h('div', {}, note, ' ', h('button', { type: 'button', class: 'primary', onclick: () => decide('approve') }, '批准'), ' ',
      h('button', { type: 'button', onclick: () => decide('reject') }, '驳回'), err);
  }

  fill(container,
    h('h2', {}, '管理等级与分级评估'),
    h('p', { html: `当前等级：${levelBadge(person.level, person.is_key, person.key_interval_min)}` }),
    history.length ? h('ul', { 'data-testid': 'level-history' }, history) : h('p', { class: 'muted small' }, '等级未经评估调整过。'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'list', 'data-testid': 'assessments' },
      h('thead', {}, h('tr', {}, ['编号', '提出时间', '提出人', '拟定等级', '总分', '评分', '状态', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 8, class: 'muted' }, '没有评估记录。'))))),
    can.proposeLevel() ? proposeForm(person, () => assessmentSection(container, person, ctx)) : null,
  );
}

function proposeForm(person, done) {
  const list = h('div', {});
  const addItem = (name = '', score = '') => {
    const n = h('input', { value: name, 'aria-label': '评估项目', size: 12 });
    const s = h('input', { type: 'number', min: 0, max: 100, step: 1, value: score, 'aria-label': `${name || '该项'}得分`, style: 'width:70px' });
    const row = h('div', { class: 'row', style: 'margin-bottom:4px' }, n, s, h('button', { type: 'button', 'aria-label': '删除该项', onclick: () => row.remove() }, '×'));
    list.append(row);
  };
  DEFAULT_ITEMS.forEach((i) => addItem(i, ''));
  const level = select('proposed_level', Object.entries(LEVEL), person.level);
  const key = h('input', { type: 'checkbox', name: 'proposed_key', checked: person.is_key });
  const form = h('form', { class: 'panel', 'aria-label': '提出分级评估', novalidate: true },
    h('h3', { style: 'margin-top:0' }, '提出分级评估（报县区司法局审批）'),
    h('div', { class: 'field' }, h('label', {}, '评分（每项 0–100）'), list,
      h('div', { class: 'error', 'data-error-for': 'scores', role: 'alert' }),
      h('div', {}, h('button', { type: 'button', onclick: () => addItem() }, '添加一项'))),
    h('div', { class: 'row' }, field('拟定等级', level), h('div', { class: 'field' }, h('label', { for: 'pk' }, '重点人员'), Object.assign(key, { id: 'pk' }))),
    formError(),
    h('button', { type: 'submit', class: 'primary' }, '提交评估'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    showFormError(form, null);
    const scores = {};
    for (const row of list.children) {
      const [n, s] = row.querySelectorAll('input');
      if (!n.value.trim() && s.value === '') continue;
      const v = Number(s.value);
      if (!n.value.trim() || s.value === '' || !Number.isInteger(v) || v < 0 || v > 100) {
        return showFormError(form, { field: 'scores' }, '每一项都要有名称和 0–100 的整数得分');
      }
      scores[n.value.trim()] = v;
    }
    if (!Object.keys(scores).length) return showFormError(form, { field: 'scores' }, '至少填写一项评分');
    try {
      await post(`/api/v1/persons/${person.id}/assessments`, { scores, proposed_level: level.value, proposed_key: key.checked });
      done();
    } catch (e) {
      showFormError(form, e, describe(e));
    }
  });
  return form;
}

export async function assessmentsPage(main, ctx) {
  const status = h('p', { class: 'muted' }, '正在加载…');
  main.replaceChildren(h('div', { class: 'page-head' }, h('h1', {}, '分级评估')),
    h('p', {}, can.proposeLevel() ? '选择人员，在其档案中提出分级评估。' : can.decideLevel() ? '选择人员，在其档案中审批分级评估。' : '选择人员查看其分级评估。'),
    status);
  try {
    const r = await get(`/api/v1/persons${qs({ limit: 500 })}`, { signal: ctx.signal });
    status.replaceWith(h('div', { class: 'table-wrap' }, h('table', { class: 'list' },
      h('thead', {}, h('tr', {}, ['姓名', '当前等级', '司法所', ''].map((t) => h('th', {}, t)))),
      h('tbody', { html: r.items.map((p) => `<tr><td>${esc(p.name)} <span class="muted small">#${p.id}</span></td><td>${levelBadge(p.level, p.is_key, p.key_interval_min)}</td><td>${esc(p.office_name)}</td><td><a href="#/persons/${p.id}?section=assessments">分级评估</a></td></tr>`).join('') }))));
  } catch (e) {
    if (e.name !== 'AbortError') status.textContent = describe(e);
  }
}
