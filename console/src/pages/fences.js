// 电子围栏: draw and edit a person's own fences — polygon, circle, or corridor (a line and a
// half width) — inclusion (must stay inside) or exclusion (禁止令), with a weekly schedule
// (curfew) and a validity period. Saved in the map's coordinate system ("crs"), applied from
// the person's next fix: POST for a new fence, PATCH for an edit, DELETE to retire one.
import { h, toLocalInput, fromLocalInput, field, formError, showFormError, select } from '../dom.js';
import { get, post, patch, del, describe } from '../api.js';
import { can } from '../session.js';
import { message } from '../shell.js';
import { FENCE_KIND, SHAPE, WEEKDAYS } from '../labels.js';
import { createMap, fenceLayer, fit, geoToMap, mapCrs, corridorLayers } from '../map.js';
import { enableDrawing, L } from '../draw.js';
import { scheduleText, validityText } from './person.js';

export async function fencesPage(main, ctx) {
  const id = Number(ctx.params.id);
  let profile;
  try {
    profile = await get(`/api/v1/persons/${id}`, { signal: ctx.signal });
  } catch (e) {
    if (e.name === 'AbortError') return;
    main.classList.remove('full');
    return message(main, e.status === 404 ? '未找到该人员' : '无法打开围栏', e.status === 404 ? '该人员不存在，或不在本单位管辖范围内。' : describe(e), 'not-found');
  }
  const writer = can.editFences();
  const side = h('div', { class: 'side' });
  const mapEl = h('div', { class: 'map', 'data-testid': 'fence-map', role: 'region', 'aria-label': '围栏地图' });
  main.replaceChildren(h('div', { class: 'split' }, side, h('div', { class: 'mapbox' }, mapEl)));
  const map = enableDrawing(createMap(mapEl));
  const shown = new Map();
  let editing = null; // {fence?: FenceRow, shape: 'area'|'circle'|'corridor', layer, changed}
  let preview = null;
  const status = h('div', { class: 'notice hidden', role: 'status', 'data-testid': 'fence-status' });

  function drawAll(fitToo) {
    for (const l of shown.values()) l.remove();
    shown.clear();
    for (const f of profile.fences) {
      if (editing && editing.fence && editing.fence.id === f.id) continue;
      shown.set(f.id, fenceLayer(map, f).addTo(map));
    }
    if (fitToo) {
      const own = profile.fences.filter((f) => !f.shared).map((f) => shown.get(f.id));
      fit(map, own.length ? own : [...shown.values()], 15);
    }
  }

  function renderList() {
    const items = profile.fences.map((f) => {
      const own = !f.shared && !f.leave_id;
      const retire = h('button', { type: 'button', class: 'danger', 'data-testid': 'fence-retire', onclick: async () => {
        if (retire.dataset.armed !== '1') {
          retire.dataset.armed = '1';
          retire.textContent = '确认停用？';
          return;
        }
        try {
          await del(`/api/v1/fences/${f.id}`);
          flash(`已停用围栏“${f.name}”，从下一次定位起不再适用。`);
          await reload();
        } catch (e) {
          flash(describe(e), true);
        }
      } }, '停用');
      return h('li', { 'data-testid': 'fence-item', 'data-id': f.id, style: 'margin-bottom:8px' },
        h('b', { 'data-testid': 'fence-item-name' }, f.name), ' ',
        h('span', { class: `badge ${f.kind === 'exclusion' ? 'open' : 'requested'}` }, f.kind === 'exclusion' ? '禁止区域' : '活动区域'),
        h('div', { class: 'small muted' }, `${SHAPE[f.shape] || f.shape}${f.radius_m ? ` 半径 ${Math.round(f.radius_m)} 米` : ''}${f.half_width_m ? ` 半宽 ${Math.round(f.half_width_m)} 米` : ''} · ${scheduleText(f.schedule)} · ${validityText(f)}`),
        h('div', { class: 'small muted' }, f.shared ? '辖区共用围栏（县区或市局维护）' : f.leave_id ? `请假 #${f.leave_id} 的目的地或路线` : '个人围栏'),
        h('div', { class: 'row small' },
          h('button', { type: 'button', onclick: () => { const l = shown.get(f.id); if (l) map.fitBounds(l.getBounds(), { maxZoom: 16 }); } }, '定位'),
          writer && own ? h('button', { type: 'button', 'data-testid': 'fence-edit', onclick: () => startEdit(f) }, '编辑') : null,
          writer && own ? retire : null));
    });
    return h('ul', { 'data-testid': 'fence-list', style: 'padding-left:18px' }, items.length ? items : h('li', { class: 'muted' }, '没有围栏。'));
  }

  function flash(text, bad = false) {
    status.textContent = text;
    status.classList.remove('hidden');
    status.style.borderColor = bad ? '#e0a3a3' : '';
  }

  // ---- the form ----
  const name = h('input', { name: 'name', 'data-testid': 'fence-name', maxlength: 100, placeholder: '如：居所活动区域' });
  const kind = select('kind', Object.entries(FENCE_KIND), 'inclusion', { 'data-testid': 'fence-kind' });
  const halfWidth = h('input', { type: 'number', name: 'half_width_m', min: 1, max: 10000, value: 100, 'data-testid': 'fence-half-width', style: 'width:90px' });
  const shapeButtons = {
    area: h('button', { type: 'button', 'data-testid': 'draw-polygon', onclick: () => startDraw('area') }, '多边形'),
    circle: h('button', { type: 'button', 'data-testid': 'draw-circle', onclick: () => startDraw('circle') }, '圆形'),
    corridor: h('button', { type: 'button', 'data-testid': 'draw-corridor', onclick: () => startDraw('corridor') }, '走廊'),
  };
  const shapeHint = h('div', { class: 'small muted', 'data-testid': 'draw-hint' }, '选择形状后在地图上绘制。');
  const useSchedule = h('input', { type: 'checkbox', id: 'fence-use-schedule', 'data-testid': 'fence-use-schedule' });
  const windows = h('div', {});
  const validFrom = h('input', { type: 'datetime-local', name: 'valid_from', 'data-testid': 'fence-valid-from' });
  const validTo = h('input', { type: 'datetime-local', name: 'valid_to', 'data-testid': 'fence-valid-to' });
  const formTitle = h('h2', { style: 'margin-top:0' }, '新建围栏');
  const save = h('button', { type: 'submit', class: 'primary', 'data-testid': 'fence-save' }, '保存');

  function addWindow(w = { days: [1, 2, 3, 4, 5, 6, 7], from: '22:00', to: '06:00' }) {
    const days = WEEKDAYS.map((d, i) => h('label', { class: 'nowrap', style: 'color:inherit' },
      h('input', { type: 'checkbox', value: i + 1, checked: w.days.includes(i + 1), 'aria-label': `星期${d}` }), d));
    const from = h('input', { type: 'time', value: w.from, 'aria-label': '开始时间' });
    const to = h('input', { type: 'time', value: w.to, 'aria-label': '结束时间（早于开始即次日）' });
    const row = h('div', { class: 'panel', style: 'padding:6px 8px;margin-bottom:6px', 'data-window': '' },
      h('div', { class: 'row small' }, ...days), h('div', { class: 'row', style: 'margin-top:4px' }, from, '至', to,
        h('button', { type: 'button', 'aria-label': '删除该时段', onclick: () => row.remove() }, '×')));
    windows.append(row);
  }
  useSchedule.addEventListener('change', () => {
    windows.classList.toggle('hidden', !useSchedule.checked);
    addWindowButton.classList.toggle('hidden', !useSchedule.checked);
    if (useSchedule.checked && !windows.children.length) addWindow();
  });
  const addWindowButton = h('button', { type: 'button', class: 'hidden', onclick: () => addWindow() }, '添加时段');

  const form = h('form', { class: 'panel', 'aria-label': '围栏编辑', novalidate: true, 'data-testid': 'fence-form' },
    formTitle,
    field('名称', name),
    field('类型', kind),
    h('div', { class: 'field' }, h('label', {}, '形状'), h('div', { class: 'row' }, shapeButtons.area, shapeButtons.circle, shapeButtons.corridor), shapeHint,
      h('div', { class: 'error', 'data-error-for': 'geojson', role: 'alert' })),
    h('div', { class: 'row hidden', 'data-corridor': '' }, field('走廊半宽（米）', halfWidth)),
    h('div', { class: 'field' }, h('div', {}, useSchedule, h('label', { for: 'fence-use-schedule', style: 'color:inherit' }, ' 仅在指定时段生效（如夜间 22:00–06:00 须在居所）')),
      windows, addWindowButton, h('div', { class: 'error', 'data-error-for': 'schedule', role: 'alert' })),
    h('div', { class: 'row' }, field('生效时间（可选）', validFrom), field('失效时间（可选）', validTo)),
    h('p', { class: 'small muted' }, `坐标系：${mapCrs() === 'gcj02' ? 'GCJ-02（内网地图）' : 'WGS-84'}。保存后从该人员的下一次定位起适用。`),
    formError(),
    h('div', { class: 'row' }, save, h('button', { type: 'button', 'data-testid': 'fence-cancel', onclick: () => resetForm() }, '取消')));
  windows.classList.add('hidden');
  form.addEventListener('submit', (ev) => { ev.preventDefault(); submit(); });
  halfWidth.addEventListener('input', updatePreview);

  function clearEditing() {
    map.pm.disableDraw();
    if (editing && editing.layer) {
      if (editing.layer.pm) editing.layer.pm.disable();
      editing.layer.remove();
    }
    if (preview) preview.remove();
    preview = null;
    editing = null;
  }

  function resetForm() {
    clearEditing();
    formTitle.textContent = '新建围栏';
    name.value = '';
    kind.value = 'inclusion';
    halfWidth.value = 100;
    useSchedule.checked = false;
    windows.replaceChildren();
    windows.classList.add('hidden');
    addWindowButton.classList.add('hidden');
    validFrom.value = validTo.value = '';
    showFormError(form, null);
    setShape(null);
    drawAll(false);
  }

  function setShape(shape) {
    for (const [k, b] of Object.entries(shapeButtons)) b.classList.toggle('active', k === shape);
    form.querySelector('[data-corridor]').classList.toggle('hidden', shape !== 'corridor');
  }

  function startDraw(shape) {
    const keep = editing && editing.fence;
    if (editing && editing.layer) {
      if (editing.layer.pm) editing.layer.pm.disable();
      editing.layer.remove();
    }
    if (preview) preview.remove();
    preview = null;
    editing = { fence: keep || null, shape, layer: null, changed: true };
    setShape(shape);
    const kindStyle = kind.value === 'exclusion' ? { color: '#c62828' } : { color: '#1565c0' };
    map.pm.setPathOptions({ ...kindStyle, weight: 3, fillOpacity: 0.15 });
    const geomanShape = { area: 'Polygon', circle: 'Circle', corridor: 'Line' }[shape];
    map.pm.enableDraw(geomanShape, { finishOn: shape === 'corridor' ? 'dblclick' : null });
    shapeHint.textContent = {
      area: '在地图上依次点击各顶点，最后点击第一个顶点完成。',
      circle: '点击圆心，再点击确定半径。',
      corridor: '依次点击路线各点，双击（或点击最后一点）完成；再填写半宽。',
    }[shape];
  }

  map.on('pm:create', (e) => {
    if (!editing) editing = { fence: null, shape: 'area', changed: true };
    editing.layer = e.layer;
    editing.changed = true;
    e.layer.pm.enable({ allowSelfIntersection: false });
    e.layer.on('pm:edit pm:dragend pm:markerdragend pm:vertexadded pm:vertexremoved', () => { editing.changed = true; updatePreview(); });
    shapeHint.textContent = '已绘制：可拖动顶点修改，或重新选择形状。';
    updatePreview();
  });

  function updatePreview() {
    if (preview) preview.remove();
    preview = null;
    if (!editing || editing.shape !== 'corridor' || !editing.layer) return;
    const w = Number(halfWidth.value);
    if (!(w > 0)) return;
    const style = kind.value === 'exclusion' ? { color: '#c62828', fillColor: '#e53935', fillOpacity: 0.15 } : { color: '#1565c0', fillColor: '#1e88e5', fillOpacity: 0.12 };
    preview = L.featureGroup(corridorLayers(editing.layer.getLatLngs(), w, style, map.canvasRenderer), { pmIgnore: true }).addTo(map);
  }

  function startEdit(f) {
    resetForm();
    formTitle.textContent = `编辑围栏：${f.name}`;
    name.value = f.name;
    kind.value = f.kind;
    if (f.schedule && f.schedule.length) {
      useSchedule.checked = true;
      windows.classList.remove('hidden');
      addWindowButton.classList.remove('hidden');
      f.schedule.forEach((w) => addWindow(w));
    }
    validFrom.value = f.valid_from ? toLocalInput(f.valid_from) : '';
    validTo.value = f.valid_to ? toLocalInput(f.valid_to) : '';
    const g = geoToMap(f.geometry);
    let layer;
    if (f.shape === 'circle') layer = L.circle([g.coordinates[1], g.coordinates[0]], { radius: f.radius_m });
    else if (f.shape === 'corridor') {
      layer = L.polyline(g.coordinates.map(([x, y]) => [y, x]));
      halfWidth.value = Math.round(f.half_width_m || 100);
    } else {
      const polys = g.type === 'MultiPolygon' ? g.coordinates : [g.coordinates];
      layer = L.polygon(polys.map((p) => p.map((ring) => ring.map(([x, y]) => [y, x]))));
    }
    editing = { fence: f, shape: f.shape, layer, changed: false };
    drawAll(false);
    layer.addTo(map);
    layer.pm.enable({ allowSelfIntersection: false });
    layer.on('pm:edit pm:dragend pm:markerdragend pm:vertexadded pm:vertexremoved', () => { editing.changed = true; updatePreview(); });
    setShape(f.shape);
    shapeHint.textContent = '拖动顶点修改形状，或重新选择形状绘制。';
    updatePreview();
    map.fitBounds(layer.getBounds(), { padding: [30, 30], maxZoom: 16 });
    name.focus();
  }

  function geojson() {
    const l = editing.layer;
    if (editing.shape === 'circle') {
      const c = l.getLatLng();
      return { type: 'Feature', geometry: { type: 'Point', coordinates: [c.lng, c.lat] }, properties: { radius_m: Math.round(l.getRadius() * 10) / 10 } };
    }
    if (editing.shape === 'corridor') {
      return { type: 'Feature', geometry: { type: 'LineString', coordinates: l.getLatLngs().map((p) => [p.lng, p.lat]) }, properties: { half_width_m: Number(halfWidth.value) } };
    }
    const f = l.toGeoJSON(8);
    return { type: 'Feature', geometry: f.geometry, properties: {} };
  }

  function schedule() {
    if (!useSchedule.checked) return null;
    return [...windows.querySelectorAll('[data-window]')].map((row) => {
      const [from, to] = row.querySelectorAll('input[type=time]');
      return { days: [...row.querySelectorAll('input[type=checkbox]:checked')].map((c) => Number(c.value)), from: from.value, to: to.value };
    });
  }

  async function submit() {
    showFormError(form, null);
    if (!name.value.trim()) return showFormError(form, { field: 'name' }, '请填写围栏名称');
    const isNew = !(editing && editing.fence);
    if (!editing || !editing.layer) return showFormError(form, { field: 'geojson' }, '请先在地图上绘制围栏');
    if (editing.shape === 'corridor' && !(Number(halfWidth.value) > 0)) return showFormError(form, { field: 'half_width_m' }, '请填写走廊半宽');
    const sched = schedule();
    if (sched && sched.some((w) => !w.days.length || !w.from || !w.to)) return showFormError(form, { field: 'schedule' }, '每个时段都要选择星期并填写起止时间');
    const body = {
      name: name.value.trim(),
      kind: kind.value,
      schedule: sched,
      valid_from: fromLocalInput(validFrom.value),
      valid_to: fromLocalInput(validTo.value),
    };
    if (body.valid_from && body.valid_to && body.valid_to <= body.valid_from) return showFormError(form, { field: 'valid_to' }, '失效时间须晚于生效时间');
    if (isNew || editing.changed || (editing.shape === 'corridor' && Number(halfWidth.value) !== editing.fence.half_width_m)) {
      body.crs = mapCrs();
      body.geojson = geojson();
    }
    save.disabled = true;
    try {
      let saved;
      if (isNew) {
        for (const k of ['schedule', 'valid_from', 'valid_to']) if (body[k] == null) delete body[k];
        saved = await post(`/api/v1/persons/${id}/fences`, body);
      } else {
        saved = await patch(`/api/v1/fences/${editing.fence.id}`, body);
      }
      clearEditing();
      resetForm();
      await reload();
      flash(`已保存围栏“${body.name}”（#${saved.id}），从该人员的下一次定位起适用。`);
      status.dataset.fenceId = String(saved.id);
    } catch (e) {
      showFormError(form, e, describe(e));
    } finally {
      save.disabled = false;
    }
  }

  async function reload() {
    profile = await get(`/api/v1/persons/${id}`, { signal: ctx.signal });
    render();
    drawAll(false);
  }

  function render() {
    side.replaceChildren(
      h('p', { class: 'small' }, h('a', { href: `#/persons/${id}` }, `← ${profile.person.name}的档案`)),
      h('h1', {}, `电子围栏：${profile.person.name}`),
      status,
      renderList(),
      writer ? form : h('p', { class: 'muted' }, '当前角色只能查看围栏。'));
  }
  render();
  drawAll(true);
  ctx.signal.addEventListener('abort', () => map.pm.disableDraw());
  mapEl.dataset.ready = 'true';
}
