// The frame around every page once signed in: the title, the role's navigation, the live
// feed's state, the sound switch, who is signed in, and logout.
import { h } from './dom.js';
import { session, orgName, can } from './session.js';
import { ROLE } from './labels.js';
import * as live from './live.js';

let header = null;

const NAV = [
  ['/alarms', '报警队列', () => true],
  ['/persons', '矫正人员', () => true],
  ['/leaves', '请假外出', () => true],
  ['/assessments', '分级评估', () => true],
  ['/reports', '报表', () => true],
  ['/dashboard', '统计概览', () => session.user.role !== 'office_staff'],
  ['/audit', '审计日志', () => can.readAudit()],
];

function buildHeader(onLogout) {
  const u = session.user;
  const liveEl = h('span', { class: 'live', 'data-testid': 'live-status', title: '报警实时推送' });
  live.onLiveStatus((s) => {
    liveEl.className = `live ${s === 'on' ? 'on' : s === 'off' ? 'off' : ''}`;
    liveEl.textContent = s === 'on' ? '实时' : s === 'off' ? '未连接' : '重连中';
  });
  const sound = h('button', {
    type: 'button', 'aria-pressed': String(!live.isMuted()), 'data-testid': 'sound-toggle', title: '新报警提示音',
    onclick: () => {
      live.setMuted(!live.isMuted());
      live.unlockAudio();
      sound.setAttribute('aria-pressed', String(!live.isMuted()));
      sound.textContent = live.isMuted() ? '提示音：关' : '提示音：开';
    },
  }, live.isMuted() ? '提示音：关' : '提示音：开');
  return h('header', { class: 'top' },
    h('div', { class: 'title' }, '社区矫正电子监管'),
    h('nav', { 'aria-label': '主导航' },
      NAV.filter(([, , show]) => show()).map(([path, text]) => h('a', { href: '#' + path, 'data-nav': path, 'data-testid': `nav-${path.slice(1)}` }, text))),
    liveEl,
    sound,
    h('div', { class: 'who', 'data-testid': 'whoami' },
      h('div', {}, u.username),
      h('div', { class: 'small' }, `${ROLE[u.role] || u.role} · ${orgName(u.organisation_id)}`)),
    h('button', { type: 'button', 'data-testid': 'logout', onclick: onLogout }, '退出'),
  );
}

/** Clears the page and returns the element to render into. */
export function frame(ctx, { full = false, onLogout } = {}) {
  const app = document.getElementById('app');
  if (!session.user) {
    header = null;
    app.replaceChildren();
    const main = h('main', { class: full ? 'full' : '' });
    app.append(main);
    return main;
  }
  if (!header || header.dataset.user !== session.user.username) {
    header = buildHeader(onLogout);
    header.dataset.user = session.user.username;
  }
  for (const a of header.querySelectorAll('nav a')) {
    a.classList.toggle('current', ctx.path === a.dataset.nav || ctx.path.startsWith(a.dataset.nav + '/'));
  }
  const main = h('main', { class: full ? 'full' : '', id: 'main' });
  app.replaceChildren(header, main);
  return main;
}

/** A full-page message (not found, not allowed). */
export function message(main, title, text, testid = 'page-message') {
  main.replaceChildren(h('div', { class: 'panel', 'data-testid': testid, role: 'alert' }, h('h1', {}, title), h('p', {}, text)));
}

export function resetHeader() {
  header = null;
}
