// Small DOM helpers: element building, HTML escaping, times in Asia/Shanghai.

/** h('button', {class: 'x', onclick}, 'text', child) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'html') el.innerHTML = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked' || k === 'disabled' || k === 'selected') el[k] = Boolean(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const esc = (s) => (s === null || s === undefined ? '' : String(s).replace(/[&<>"']/g, (c) => ESC[c]));

const TZ = 'Asia/Shanghai';
const fmtFull = new Intl.DateTimeFormat('zh-CN', {
  timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
});
const fmtShort = new Intl.DateTimeFormat('zh-CN', {
  timeZone: TZ, month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false,
});
const fmtDate = new Intl.DateTimeFormat('zh-CN', { timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit' });

/** 2026/12/07 08:05:12 (Beijing time) */
export const fmtTime = (t) => (t ? fmtFull.format(new Date(t)) : '—');
export const fmtShortTime = (t) => (t ? fmtShort.format(new Date(t)) : '—');
export const fmtDay = (t) => (t ? fmtDate.format(new Date(t)) : '—');

/** "3 小时 12 分" since `t` (or between t and `until`). */
export function since(t, until = Date.now()) {
  if (!t) return '—';
  let s = Math.max(0, Math.round((until - new Date(t).getTime()) / 1000));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  if (d) return `${d} 天 ${hh} 小时`;
  if (hh) return `${hh} 小时 ${mm} 分`;
  if (mm) return `${mm} 分钟`;
  return `${s} 秒`;
}

/** The value for an <input type="datetime-local"> showing `t` in Beijing time. */
export function toLocalInput(t) {
  const d = new Date(new Date(t).getTime() + 8 * 3600e3);
  return d.toISOString().slice(0, 16);
}

/** An <input type="datetime-local"> value (Beijing time) as an RFC 3339 instant, or null. */
export function fromLocalInput(v) {
  if (!v) return null;
  const d = new Date(`${v.length === 16 ? v + ':00' : v}+08:00`);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** Puts `err`'s message next to the field it names inside `form`, or in its general slot. */
export function showFormError(form, err, text) {
  form.querySelectorAll('[data-error-for]').forEach((e) => (e.textContent = ''));
  if (!err) return;
  const field = err.field && form.querySelector(`[data-error-for="${CSS.escape(String(err.field).split(/[.[]/)[0])}"]`);
  const slot = field || form.querySelector('[data-error-for="_form"]');
  if (slot) slot.textContent = text;
  const input = err.field && form.querySelector(`[name="${CSS.escape(String(err.field).split(/[.[]/)[0])}"]`);
  if (input) input.focus();
}

/** A labelled form field: <div class=field><label for>…</label>control<div class=error></div></div> */
export function field(labelText, control, name = control.getAttribute('name')) {
  if (!control.id) control.id = `f-${name}-${Math.random().toString(36).slice(2, 7)}`;
  return h('div', { class: 'field' }, h('label', { for: control.id }, labelText), control,
    h('div', { class: 'error', 'data-error-for': name, role: 'alert' }));
}

export function formError() {
  return h('div', { class: 'error', 'data-error-for': '_form', role: 'alert' });
}

export function select(name, options, value, attrs = {}) {
  return h('select', { name, ...attrs }, options.map(([v, label]) => h('option', { value: v, selected: String(v) === String(value ?? '') }, label)));
}

/** Replaces `el`'s children, leaving out null, undefined and false (conditional parts). */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}
