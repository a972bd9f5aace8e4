// 统计概览 (county and city): persons by level, open alarms by county and by office, alarms
// over the last 7 days, today's location requests answered and failed.
import { h } from '../dom.js';
import { get, describe } from '../api.js';
import { go } from '../router.js';
import { KIND, LEVEL } from '../labels.js';
import { echarts } from '../charts.js';

const FONT = '"Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei", sans-serif';
const KIND_COLOURS = ['#c62828', '#ef6c00', '#6a1b9a', '#1565c0', '#546e7a', '#2e7d32', '#8d6e63', '#ad1457', '#f9a825'];

function lastDays(n) {
  const out = [];
  const fmt = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' });
  for (let i = n - 1; i >= 0; i--) out.push(fmt.format(new Date(Date.now() - i * 86400e3)));
  return out;
}

export async function dashboardPage(main, ctx) {
  main.replaceChildren(h('div', { class: 'page-head' }, h('h1', {}, '统计概览')), h('p', { class: 'muted' }, '正在加载…'));
  let d;
  try {
    d = await get('/api/v1/dashboard', { signal: ctx.signal });
  } catch (e) {
    if (e.name === 'AbortError') return;
    main.replaceChildren(h('h1', {}, '统计概览'), h('p', { class: 'error' }, describe(e)));
    return;
  }
  const r = d.requests_today || { issued: 0, answered: 0, failed: 0, pending: 0 };
  const rate = r.issued ? `${((100 * r.answered) / r.issued).toFixed(1)}%` : '—';
  const openTotal = d.open_alarms.reduce((s, x) => s + x.count, 0);
  const figure = (label, value, testid) => h('div', { class: 'figure', 'data-testid': testid }, h('b', {}, String(value)), h('span', { class: 'muted' }, label));
  const charts = {
    levels: h('div', { class: 'chart', 'data-testid': 'chart-levels', role: 'img', 'aria-label': '在矫人员等级分布' }),
    counties: h('div', { class: 'chart', 'data-testid': 'chart-counties', role: 'img', 'aria-label': '各县区未结报警' }),
    offices: h('div', { class: 'chart', 'data-testid': 'chart-offices', role: 'img', 'aria-label': '各司法所未结报警' }),
    week: h('div', { class: 'chart', 'data-testid': 'chart-week', role: 'img', 'aria-label': '近 7 天报警' }),
  };
  main.replaceChildren(
    h('div', { class: 'page-head' }, h('h1', {}, '统计概览')),
    h('div', { class: 'figures' },
      figure('在矫人员', d.persons.total, 'fig-persons'), figure('重点人员', d.persons.key, 'fig-key'),
      figure('未结报警', openTotal, 'fig-open'), figure('今日定位请求', r.issued, 'fig-issued'),
      figure('已应答', r.answered, 'fig-answered'), figure('定位失败', r.failed, 'fig-failed'),
      figure('待应答', r.pending, 'fig-pending'), figure('定位成功率', rate, 'fig-rate')),
    h('div', { class: 'charts' },
      h('div', { class: 'panel' }, h('h2', { style: 'margin-top:0' }, '人员等级'), charts.levels),
      h('div', { class: 'panel' }, h('h2', { style: 'margin-top:0' }, '近 7 天报警'), charts.week),
      h('div', { class: 'panel' }, h('h2', { style: 'margin-top:0' }, '各县区未结报警'), charts.counties),
      h('div', { class: 'panel' }, h('h2', { style: 'margin-top:0' }, '各司法所未结报警（点击查看）'), charts.offices)));

  const inits = [];
  const make = (el, option) => {
    const c = echarts.init(el, null, { renderer: 'canvas' });
    c.setOption({ textStyle: { fontFamily: FONT }, animation: false, ...option });
    inits.push(c);
    return c;
  };
  make(charts.levels, {
    tooltip: { trigger: 'item' },
    legend: { bottom: 0 },
    series: [{ type: 'pie', radius: ['35%', '65%'], label: { formatter: '{b}：{c}' },
      data: [['lenient', '#2e7d32'], ['ordinary', '#1565c0'], ['strict', '#e65100']].map(([k, color]) => ({ name: LEVEL[k], value: d.persons[k] || 0, itemStyle: { color } })) }],
  });
  const kinds = [...new Set([...d.open_alarms.map((x) => x.kind), ...d.alarms_last_7_days.map((x) => x.kind)])];
  const colourOf = (k) => KIND_COLOURS[Object.keys(KIND).indexOf(k) % KIND_COLOURS.length];
  const stacked = (categories, rows, key, horizontal = false) => ({
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
    legend: { bottom: 0, type: 'scroll' },
    grid: { left: horizontal ? 110 : 40, right: 16, top: 16, bottom: 50 },
    [horizontal ? 'yAxis' : 'xAxis']: { type: 'category', data: categories, axisLabel: { interval: 0, fontSize: 11 } },
    [horizontal ? 'xAxis' : 'yAxis']: { type: 'value', minInterval: 1 },
    series: kinds.map((k) => ({ name: KIND[k] || k, type: 'bar', stack: 'all', barMaxWidth: 48, itemStyle: { color: colourOf(k) },
      data: categories.map((c) => rows.filter((x) => x[key] === c && x.kind === k).reduce((s, x) => s + x.count, 0)) })),
  });
  const counties = [...new Set(d.open_alarms.map((x) => x.county))];
  make(charts.counties, stacked(counties, d.open_alarms, 'county'));
  const offices = [...new Set(d.open_alarms.map((x) => x.office))];
  const officeChart = make(charts.offices, stacked(offices, d.open_alarms, 'office', true));
  officeChart.on('click', (p) => {
    const row = d.open_alarms.find((x) => x.office === p.name);
    if (row) go(`/alarms?office=${row.office_id}`);
  });
  const days = lastDays(7);
  make(charts.week, stacked(days, d.alarms_last_7_days, 'day'));
  const resize = () => inits.forEach((c) => c.resize());
  window.addEventListener('resize', resize, { signal: ctx.signal });
  ctx.signal.addEventListener('abort', () => inits.forEach((c) => c.dispose()));
  main.dataset.ready = 'true';
}
