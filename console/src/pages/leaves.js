// 请假外出: the leaves in scope; the office records a request (reason, window, destination
// drawn as an area or a circle, an optional route corridor); an office approves up to 7 days,
// the county beyond; a request or a granted leave can be cancelled.
import { h, esc, fmtTime, toLocalInput, fromLocalInput, field, formError, showFormError, select } from '../dom.js';
import { get, post, qs, describe } from '../api.js';
import { can } from '../session.js';
import { setQuery } from '../router.js';
import { LEAVE_STATE } from '../labels.js';
import { createMap, mapCrs, fit, fenceLayer, corridorLayers } from '../map.js';
import { enableDrawing, L } from '../draw.js';

const days = (l) => (Date.parse(l.ends_at) - Date.parse(l.starts_at)) / 86400e3;

export async function leavesPage(main, ctx) {
  const filters = { state: ctx.query.get('state') || '', person: ctx.query.get('person') || '' };
  const status = h('div', { class: 'muted small', 'aria-live': 'polite', 'data-testid': 'leaves-status' });
  const tbody = h('tbody', {});
  const more = h('button', { type: 'button', class: 'hidden', onclick: () => load(false) }, '加载更多');
  let next = null;
  const stateSel = select('state', [['', '全部状态'], ...Object.entries(LEAVE_STATE)], filters.state, { id: 'lf-state' });
  stateSel.addEventListener('change', () => { filters.state = stateSel.value; setQuery(filters); load(true); });
  const formSlot = h('div', {});

  main.replaceChildren(
    h('div', { class: 'page-head' }, h('h1', {}, '请假外出'), status,
      can.requestLeave() ? h('button', { type: 'button', class: 'primary', 'data-testid': 'leave-new', onclick: () => openForm() }, '登记请假申请') : null),
    formSlot,
    h('div', { class: 'queue-tools' }, h('div', { class: 'field' }, h('label', { for: 'lf-state' }, '状态'), stateSel),
      filters.person ? h('div', { class: 'field' }, h('label', {}, '人员'), h('span', {}, `#${filters.person} `, h('a', { href: '#/leaves' }, '看全部'))) : null),
    h('div', { class: 'table-wrap' }, h('table', { class: 'list', 'data-testid': 'leave-list' },
      h('thead', {}, h('tr', {}, ['编号', '人员', '事由', '时间', '状态', '申请/审批', '离开/返回', '操作'].map((t) => h('th', {}, t)))), tbody)),
    h('p', {}, more));

  function actions(l) {
    if (!can.write() || !['requested', 'approved'].includes(l.state)) return null;
    const note = h('input', { placeholder: '意见（可选）', size: 8, 'aria-label': `请假 #${l.id} 意见` });
    const err = h('div', { class: 'error', role: 'alert' });
    const act = async (what) => {
      err.textContent = '';
      try {
        await post(`/api/v1/leaves/${l.id}/${what}`, note.value.trim() ? { note: note.value.trim() } : {});
        load(true);
      } catch (e) {
        err.textContent = describe(e);
      }
    };
    const decide = l.state === 'requested' && can.decideLeave(days(l));
    return h('div', {}, note, ' ',
      decide ? [h('button', { type: 'button', class: 'primary', 'data-testid': 'leave-approve', onclick: () => act('approve') }, '批准'), ' ',
        h('button', { type: 'button', 'data-testid': 'leave-reject', onclick: () => act('reject') }, '驳回'), ' '] : null,
      l.state === 'requested' && !decide ? h('span', { class: 'small muted' }, '超过 7 天，须县区司法局审批 ') : null,
      h('button', { type: 'button', class: 'danger', 'data-testid': 'leave-cancel', onclick: () => act('cancel') }, l.state === 'approved' ? '撤销' : '撤回'), err);
  }

  async function load(reset) {
    if (reset) {
      tbody.replaceChildren();
      next = null;
    }
    status.textContent = '正在加载…';
    try {
      const r = await get(`/api/v1/leaves${qs({ ...filters, before: next, limit: 100 })}`, { signal: ctx.signal });
      for (const l of r.items) {
        tbody.append(h('tr', { 'data-testid': 'leave-row', 'data-id': l.id },
          h('td', {}, `#${l.id}`), h('td', { html: `<a href="#/persons/${l.person}">${esc(l.person_name)}</a>` }), h('td', {}, l.reason),
          h('td', { class: 'small' }, `${fmtTime(l.starts_at)} 至 ${fmtTime(l.ends_at)}（${days(l).toFixed(1)} 天）`),
          h('td', {}, h('span', { class: `badge ${l.state}` }, LEAVE_STATE[l.state] || l.state)),
          h('td', { class: 'small' }, `${l.requested_by || '—'}${l.decided_by ? ` / ${l.decided_by} ${fmtTime(l.decided_at)}` : ''}${l.decision_note ? `：${l.decision_note}` : ''}`),
          h('td', { class: 'small' }, `${l.departed_at ? fmtTime(l.departed_at) : '—'} / ${l.returned_at ? fmtTime(l.returned_at) : '—'}`),
          h('td', {}, actions(l))));
      }
      next = r.next;
      more.classList.toggle('hidden', next == null);
      status.textContent = `共显示 ${tbody.children.length} 条`;
      if (!tbody.children.length) tbody.innerHTML = '<tr><td colspan="8" class="muted">没有请假记录。</td></tr>';
    } catch (e) {
      if (e.name !== 'AbortError') status.textContent = describe(e);
    }
  }

  async function openForm() {
    if (formSlot.firstChild) return;
    const persons = await get(`/api/v1/persons${qs({ limit: 1000 })}`, { signal: ctx.signal }).catch(() => ({ items: [] }));
    const person = select('person', [['', '请选择人员…'], ...persons.items.map((p) => [p.id, `${p.name}（#${p.id}，${p.office_name}）`])], filters.person, { 'data-testid': 'leave-person' });
    const reason = h('textarea', { name: 'reason', rows: 2, maxlength: 500, 'data-testid': 'leave-reason' });
    const start = h('input', { type: 'datetime-local', name: 'starts_at', value: toLocalInput(Date.now() + 3600e3) });
    const end = h('input', { type: 'datetime-local', name: 'ends_at', value: toLocalInput(Date.now() + 2 * 86400e3) });
    const halfWidth = h('input', { type: 'number', name: 'route_half_width_m', min: 1, max: 10000, value: 500, style: 'width:90px' });
    const mapEl = h('div', { class: 'map small', role: 'region', 'aria-label': '目的地与路线' });
    const hint = h('div', { class: 'small muted' }, '先选择形状，再在地图上绘制目的地；路线可选。');
    let dest = null;
    let route = null;
    let mode = null;
    let routePreview = null;
    const form = h('form', { class: 'panel', 'aria-label': '请假申请', novalidate: true },
      h('h2', { style: 'margin-top:0' }, '登记请假申请'),
      h('div', { class: 'grid2' },
        h('div', {},
          field('人员', person), field('事由', reason),
          h('div', { class: 'row' }, field('离开时间（北京时间）', start), field('返回时间', end)),
          h('div', { class: 'field' }, h('label', {}, '目的地'), h('div', { class: 'row' },
            h('button', { type: 'button', onclick: () => draw('dest', 'Circle') }, '圆形目的地'),
            h('button', { type: 'button', onclick: () => draw('dest', 'Polygon') }, '多边形目的地')),
          h('div', { class: 'error', 'data-error-for': 'destination', role: 'alert' })),
          h('div', { class: 'field' }, h('label', {}, '路线（可选）'), h('div', { class: 'row' },
            h('button', { type: 'button', onclick: () => draw('route', 'Line') }, '绘制路线'), '半宽（米）', halfWidth,
            h('button', { type: 'button', onclick: () => { if (route) route.remove(); route = null; preview(); } }, '清除路线')),
          h('div', { class: 'error', 'data-error-for': 'route', role: 'alert' }),
          h('div', { class: 'error', 'data-error-for': 'route_half_width_m', role: 'alert' })),
          hint, formError(),
          h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary', 'data-testid': 'leave-submit' }, '提交申请'),
            h('button', { type: 'button', onclick: () => closeForm() }, '取消'))),
        mapEl));
    formSlot.replaceChildren(form);
    const map = enableDrawing(createMap(mapEl));
    // The form (and its map) simply leave the page; Leaflet's remove() trips over geoman's edit handles.
    const closeForm = (...content) => {
      map.pm.disableDraw();
      formSlot.replaceChildren(...content);
    };
    person.addEventListener('change', showPersonFences);
    let personLayers = [];
    async function showPersonFences() {
      personLayers.forEach((l) => l.remove());
      personLayers = [];
      if (!person.value) return;
      try {
        const p = await get(`/api/v1/persons/${person.value}`, { signal: ctx.signal });
        personLayers = p.fences.filter((f) => !f.leave_id).map((f) => fenceLayer(map, f, { fillOpacity: 0.03 }).addTo(map));
        fit(map, personLayers, 13);
      } catch {
        /* the form still works */
      }
    }
    if (person.value) showPersonFences();
    function draw(what, shape) {
      mode = what;
      map.pm.enableDraw(shape, { finishOn: shape === 'Line' ? 'dblclick' : null });
      hint.textContent = shape === 'Circle' ? '点击圆心，再点击确定半径。' : shape === 'Line' ? '依次点击路线各点，双击完成。' : '依次点击各顶点，点击第一个顶点完成。';
    }
    function preview() {
      if (routePreview) routePreview.remove();
      routePreview = null;
      if (route && Number(halfWidth.value) > 0) {
        routePreview = L.featureGroup(corridorLayers(route.getLatLngs(), Number(halfWidth.value), { color: '#6a1b9a', fillColor: '#8e24aa', fillOpacity: 0.12 }, map.canvasRenderer), { pmIgnore: true }).addTo(map);
      }
    }
    halfWidth.addEventListener('input', preview);
    map.on('pm:create', (e) => {
      if (mode === 'route') {
        if (route) route.remove();
        route = e.layer;
      } else {
        if (dest) dest.remove();
        dest = e.layer;
      }
      e.layer.pm.enable();
      e.layer.on('pm:edit', preview);
      hint.textContent = '已绘制，可拖动顶点调整。';
      preview();
    });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      showFormError(form, null);
      if (!person.value) return showFormError(form, { field: 'person' }, '请选择人员');
      if (!reason.value.trim()) return showFormError(form, { field: 'reason' }, '请填写事由');
      const startsAt = fromLocalInput(start.value);
      const endsAt = fromLocalInput(end.value);
      if (!startsAt) return showFormError(form, { field: 'starts_at' }, '请填写离开时间');
      if (!endsAt || endsAt <= startsAt) return showFormError(form, { field: 'ends_at' }, '返回时间须晚于离开时间');
      if (!dest) return showFormError(form, { field: 'destination' }, '请在地图上绘制目的地');
      const destination = dest instanceof L.Circle
        ? { type: 'Feature', geometry: { type: 'Point', coordinates: [dest.getLatLng().lng, dest.getLatLng().lat] }, properties: { radius_m: Math.round(dest.getRadius()) } }
        : { type: 'Feature', geometry: dest.toGeoJSON(8).geometry, properties: {} };
      const body = { reason: reason.value.trim(), starts_at: startsAt, ends_at: endsAt, destination, crs: mapCrs() };
      if (route) {
        body.route = { type: 'Feature', geometry: { type: 'LineString', coordinates: route.getLatLngs().map((p) => [p.lng, p.lat]) }, properties: {} };
        body.route_half_width_m = Number(halfWidth.value);
      }
      try {
        const r = await post(`/api/v1/persons/${person.value}/leaves`, body);
        closeForm(h('p', { class: 'notice', role: 'status', 'data-testid': 'leave-requested' }, `已登记请假申请 #${r.id}，待审批。`));
        load(true);
      } catch (e) {
        showFormError(form, e, describe(e));
      }
    });
  }

  await load(true);
  if (ctx.query.get('new') === '1' && can.requestLeave()) openForm();
}
