// 报表: the stored reports in the account's scope (每日名单 of each office at 08:00, the weekly
// report on Mondays, the month-end bulletin on the 1st), newest first, with a few headline
// figures; each one opens as its printable page (`/api/v1/reports/{id}/html` in a frame) and
// downloads as its workbook (`/api/v1/reports/{id}/xlsx`). The e-mails link to `/reports/{id}`.
import { h, fmtTime, fmtShortTime } from '../dom.js';
import { get, qs, describe } from '../api.js';
import { setQuery } from '../router.js';
import { message } from '../shell.js';
import { REPORT_KIND } from '../labels.js';

const xlsxUrl = (id) => `/api/v1/reports/${id}/xlsx`;
const htmlUrl = (id) => `/api/v1/reports/${id}/html`;

/** 2026-W49 → 2026年第49周, 2026-12 → 2026年12月, 2026-12-07 → 2026年12月7日. */
export function periodText(p) {
  let m = /^(\d{4})-W(\d{1,2})$/.exec(p || '');
  if (m) return `${m[1]}年第${Number(m[2])}周`;
  m = /^(\d{4})-(\d{2})$/.exec(p || '');
  if (m) return `${m[1]}年${Number(m[2])}月`;
  m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(p || '');
  if (m) return `${m[1]}年${Number(m[2])}月${Number(m[3])}日`;
  return p || '—';
}

const pct = (x) => (typeof x === 'number' && Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : '—');
const num = (x) => (typeof x === 'number' && Number.isFinite(x) ? String(x) : '—');

/** The headline figures of a report's summary, as [label, value] pairs. */
export function figures(r) {
  const s = r.summary || {};
  if (r.kind === 'daily') {
    return [['异常定位', `${num(s.doubtful)} 人`], ['越界', `${num(s.breaches)} 起`], ['定位缺失', `${num(s.missing)} 人`]];
  }
  return [['定位成功率', pct(s.success_rate)], ['报警', `${num(s.raised)} 起`], ['处置及时率', pct(s.timely_rate)], ['过夜', `${num(s.overnight)} 起`]];
}

const EMPTY = {
  '': '暂无报表。每日名单于每天 08:00 生成，周报于每周一 08:00 生成，月报于每月 1 日 08:00 生成。',
  daily: '暂无每日名单。每日名单于每天 08:00 生成。',
  weekly: '暂无周报。周报于每周一 08:00 生成。',
  monthly: '暂无月报。月报于每月 1 日 08:00 生成。',
};

export async function reportsPage(main, ctx) {
  const kindParam = ctx.query.get('kind') || '';
  const filters = { kind: REPORT_KIND[kindParam] ? kindParam : '' };
  const status = h('div', { class: 'muted small', 'aria-live': 'polite', 'data-testid': 'reports-status' });
  const tbody = h('tbody', {});
  const more = h('button', { type: 'button', class: 'hidden', 'data-testid': 'reports-more', onclick: () => load(false) }, '更多');
  const headers = ['标题', '范围', '期间', '生成时间', '主要指标', '邮件', '操作'];
  let next = null;

  const kinds = h('div', { class: 'row', role: 'group', 'aria-label': '报表类型' },
    [['', '全部'], ...Object.entries(REPORT_KIND)].map(([v, t]) => h('button', {
      type: 'button', 'data-kind': v, 'data-testid': `reports-kind-${v || 'all'}`, 'aria-pressed': String(v === filters.kind),
      class: v === filters.kind ? 'active' : '',
      onclick: () => {
        if (filters.kind === v) return;
        filters.kind = v;
        for (const b of kinds.querySelectorAll('button')) {
          const on = b.dataset.kind === v;
          b.classList.toggle('active', on);
          b.setAttribute('aria-pressed', String(on));
        }
        setQuery(filters);
        load(true);
      },
    }, t)));

  main.replaceChildren(
    h('div', { class: 'page-head' }, h('h1', {}, '报表'), status),
    h('div', { class: 'queue-tools' }, h('div', { class: 'field' }, h('label', {}, '类型'), kinds)),
    h('div', { class: 'table-wrap' }, h('table', { class: 'list', 'data-testid': 'report-list' },
      h('thead', {}, h('tr', {}, headers.map((t) => h('th', {}, t)))), tbody)),
    h('p', {}, more));

  function row(r) {
    return h('tr', { 'data-testid': 'report-row', 'data-id': r.id, 'data-kind': r.kind },
      h('td', {},
        h('a', { href: `#/reports/${r.id}`, 'data-testid': 'report-title' }, r.title),
        h('div', { class: 'small muted' }, REPORT_KIND[r.kind] || r.kind)),
      h('td', {}, r.organisation_name),
      h('td', { class: 'nowrap' }, periodText(r.period),
        h('div', { class: 'small muted' }, `${fmtShortTime(r.period_start)} 至 ${fmtShortTime(r.period_end)}`)),
      h('td', { class: 'nowrap' }, fmtTime(r.generated_at)),
      h('td', { class: 'small', 'data-testid': 'report-figures' },
        figures(r).map(([k, v]) => h('div', { class: 'nowrap' }, `${k}：`, h('b', {}, v)))),
      h('td', { class: 'nowrap', title: r.mails ? `已发送 ${r.mails_sent} 封，共 ${r.mails} 封` : '无收件人' },
        r.mails ? `${r.mails_sent}/${r.mails}` : '—'),
      h('td', { class: 'nowrap' },
        h('a', { href: `#/reports/${r.id}`, 'data-testid': 'report-open' }, '查看'), ' ',
        h('a', { href: xlsxUrl(r.id), download: true, 'data-testid': 'report-xlsx' }, '下载XLSX')));
  }

  async function load(reset) {
    if (reset) {
      tbody.replaceChildren();
      next = null;
    }
    const asked = filters.kind;
    status.textContent = '正在加载…';
    more.disabled = true;
    try {
      const r = await get(`/api/v1/reports${qs({ kind: filters.kind, before: next, limit: 50 })}`, { signal: ctx.signal });
      if (asked !== filters.kind) return; // a newer filter's answer is on its way
      tbody.append(...r.items.map(row));
      next = r.next;
      more.classList.toggle('hidden', next == null);
      const n = tbody.querySelectorAll('[data-testid="report-row"]').length;
      status.textContent = n ? `共显示 ${n} 份` : '';
      if (!n) {
        tbody.replaceChildren(h('tr', {}, h('td', { colspan: headers.length, class: 'muted', 'data-testid': 'reports-empty' }, EMPTY[filters.kind])));
      }
    } catch (e) {
      if (e.name !== 'AbortError') status.textContent = describe(e);
    } finally {
      more.disabled = false;
    }
  }

  await load(true);
}

/** The console's pages that reports link to (`<console_url>/persons/ID`, …). */
const CONSOLE_PATH = /^\/(persons|alarms|reports)\/\d+(\/(track|fences))?$/;

/**
 * Links in the framed report (a person's name in the morning lists) open outside the frame: the
 * console's own pages as its routes (whatever host the report's links name), anything else as
 * the whole window.
 */
function followLinksOutside(frameEl) {
  let doc;
  try {
    doc = frameEl.contentDocument;
  } catch {
    return;
  }
  if (!doc) return;
  doc.addEventListener('click', (ev) => {
    const a = ev.target instanceof doc.defaultView.Element ? ev.target.closest('a[href]') : null;
    if (!a || a.getAttribute('href').startsWith('#')) return;
    ev.preventDefault();
    const u = new URL(a.href);
    const target = CONSOLE_PATH.test(u.pathname) ? `/#${u.pathname}` : u.href;
    if (ev.ctrlKey || ev.metaKey || ev.shiftKey) window.open(target, '_blank', 'noopener');
    else if (CONSOLE_PATH.test(u.pathname)) location.hash = u.pathname;
    else location.assign(target);
  });
}

/** One report: its printable page in a frame, with download, print and back. */
export async function reportPage(main, ctx) {
  const id = Number(ctx.params.id);
  const notFound = () => message(main, '未找到报表', '报表不存在或不在您的管辖范围内。', 'not-found');
  if (!Number.isInteger(id) || id <= 0) return notFound();
  let r;
  try {
    r = await get(`/api/v1/reports/${id}`, { signal: ctx.signal });
  } catch (e) {
    if (e.name === 'AbortError') return;
    if (e.status === 404) return notFound(); // outside the scope is as missing
    return message(main, '无法打开报表', describe(e), 'page-message');
  }

  const frameEl = h('iframe', { src: htmlUrl(id), title: r.title, class: 'report-frame', 'data-testid': 'report-frame' });
  const print = h('button', { type: 'button', class: 'primary', 'data-testid': 'report-print', disabled: true,
    onclick: () => {
      try {
        frameEl.contentWindow.focus();
        frameEl.contentWindow.print();
      } catch (e) {
        window.alert(`无法打印：${e.message}`);
      }
    } }, '打印');
  const state = h('span', { class: 'small muted', 'aria-live': 'polite' }, '正在加载报表…');
  frameEl.addEventListener('load', () => {
    followLinksOutside(frameEl);
    print.disabled = false;
    state.textContent = '';
    main.dataset.ready = 'true';
  });
  main.replaceChildren(h('div', { class: 'report-view', 'data-testid': 'report-view', 'data-id': id },
    h('div', { class: 'page-head report-head' },
      h('h1', { 'data-testid': 'report-heading' }, r.title),
      h('span', { class: 'small muted' }, `${REPORT_KIND[r.kind] || r.kind} · ${r.organisation_name} · ${periodText(r.period)} · 生成于 ${fmtTime(r.generated_at)}`),
      state,
      h('div', { class: 'row report-actions' },
        h('a', { class: 'button', href: xlsxUrl(id), download: true, 'data-testid': 'report-xlsx' }, '下载XLSX'),
        print,
        h('a', { class: 'button', href: '#/reports', 'data-testid': 'report-back' }, '返回列表'))),
    frameEl));
}
