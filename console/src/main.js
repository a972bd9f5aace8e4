// The console's entry: configuration, who is signed in, the live feed, and the routes.
import 'leaflet/dist/leaflet.css';
import '@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css';
import './app.css';
import { route, guard, start, go, parse } from './router.js';
import { get, post, onUnauthorized } from './api.js';
import { session, loadConfig, organisations, home } from './session.js';
import { frame, message, resetHeader } from './shell.js';
import { h } from './dom.js';
import { KIND } from './labels.js';
import * as live from './live.js';
import { loginPage } from './pages/login.js';
import { alarmsPage } from './pages/alarms.js';
import { alarmPage } from './pages/alarm.js';
import { personsPage } from './pages/persons.js';
import { personPage } from './pages/person.js';
import { trackPage } from './pages/track.js';
import { fencesPage } from './pages/fences.js';
import { leavesPage } from './pages/leaves.js';
import { assessmentsPage } from './pages/assessments.js';
import { dashboardPage } from './pages/dashboard.js';
import { auditPage } from './pages/audit.js';
import { reportsPage, reportPage } from './pages/reports.js';

let returnTo = null;
let loginReason = null;

async function signedIn(user) {
  session.user = user;
  resetHeader();
  try {
    await organisations();
  } catch {
    /* names fall back to ids */
  }
  live.connect(checkSession);
}

async function checkSession() {
  try {
    await get('/api/v1/auth/me');
    setTimeout(() => session.user && live.connect(checkSession), 3000);
  } catch {
    /* a 401 has already sent the user to login */
  }
}

async function logout() {
  try {
    await post('/api/v1/auth/logout');
  } catch {
    /* the session is gone either way */
  }
  signedOut(null);
}

function signedOut(reason) {
  session.user = null;
  session.orgs = null;
  live.disconnect();
  resetHeader();
  loginReason = reason;
  go('/login');
}

onUnauthorized(() => {
  if (!session.user) return;
  const { path } = parse();
  if (path !== '/login') returnTo = location.hash.slice(1);
  signedOut('登录已失效（超时或在别处退出），请重新登录。');
});

const page = (render, options = {}) => async (ctx) => {
  const main = frame(ctx, { full: options.full, onLogout: logout });
  return render(main, ctx);
};

route('/login', async (ctx) => {
  if (session.user) return go(home());
  const main = frame(ctx);
  loginPage(main, {
    reason: loginReason,
    onSuccess: async (user) => {
      loginReason = null;
      await signedIn(user);
      const target = returnTo;
      returnTo = null;
      go(target && !target.startsWith('/login') ? target : home());
    },
  });
}, { public: true });
route('/', async () => go(home()));
route('/alarms', page(alarmsPage));
route('/alarms/:id', page(alarmPage, { full: true }), {});
route('/persons', page(personsPage));
route('/persons/:id', page(personPage));
route('/persons/:id/track', page(trackPage, { full: true }));
route('/persons/:id/fences', page(fencesPage, { full: true }));
route('/leaves', page(leavesPage));
route('/assessments', page(assessmentsPage));
route('/reports', page(reportsPage));
route('/reports/:id', page(reportPage, { full: true }));
route('/dashboard', page(dashboardPage));
route('/audit', page(auditPage), { roles: ['auditor', 'city_admin'] });

guard(async (path, options, ctx) => {
  if (options.public) return true;
  if (!session.user) {
    try {
      const me = await get('/api/v1/auth/me', { expect401: true });
      await signedIn(me.user);
    } catch (e) {
      returnTo = location.hash.slice(1) || null;
      go('/login');
      return false;
    }
  }
  if (options.roles && !options.roles.includes(session.user.role)) {
    message(frame(ctx, { onLogout: logout }), '无权访问', '当前账号的角色不能查看此页面。', 'forbidden');
    return false;
  }
  return true;
});

// A new alarm anywhere in scope: a sound, and on pages other than the queue a notice.
live.subscribe((e) => {
  if (e.kind !== 'opened' || !e.alarm_id) return;
  live.beep();
  if (parse().path === '/alarms') return;
  const note = h('div', { class: 'banner', role: 'alert', 'data-testid': 'new-alarm-toast', style: 'position:fixed;right:16px;bottom:16px;z-index:2000' },
    `新报警：${KIND[e.alarm_kind] || e.alarm_kind}（人员 #${e.person_id}）`,
    h('button', { type: 'button', onclick: () => { note.remove(); go(`/alarms/${e.alarm_id}`); } }, '查看'),
    h('button', { type: 'button', 'aria-label': '关闭提示', onclick: () => note.remove() }, '×'));
  document.body.append(note);
  setTimeout(() => note.remove(), 15000);
});

// Browsers let a page play sound only after a user gesture: the first click or key unlocks it.
for (const ev of ['pointerdown', 'keydown']) document.addEventListener(ev, live.unlockAudio, { capture: true });

// Notices and report e-mails link to paths (`…/alarms/ID`, `…/reports/ID`): the same routes as hashes.
if (location.pathname !== '/' && !location.hash) history.replaceState(null, '', `/#${location.pathname}${location.search}`);

loadConfig().then(start);
