// Hash routing (the server serves only `/`): `#/path?query`. Each route renders into the main
// element with a context whose AbortSignal fires when the user leaves the page.

const routes = [];
let current = null;
let before = () => true;

/** Adds a route: `pattern` like '/persons/:id/track'. */
export function route(pattern, render, options = {}) {
  const names = [];
  const re = new RegExp(
    '^' + pattern.replace(/:([a-z]+)/g, (_, n) => (names.push(n), '([^/]+)')) + '$',
  );
  routes.push({ pattern, re, names, render, options });
}

/** Called before every render with (path, options); return false to stop (e.g. to log in). */
export function guard(f) {
  before = f;
}

export function parse(hash = location.hash) {
  const h = hash.replace(/^#/, '') || '/';
  const [path, query = ''] = h.split('?');
  return { path, query: new URLSearchParams(query) };
}

export function go(path) {
  if (location.hash === '#' + path) render();
  else location.hash = path;
}

/** Replaces the query part of the current route without rendering again. */
export function setQuery(params) {
  const { path } = parse();
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== '' && v != null) q.set(k, v);
  const s = q.toString();
  history.replaceState(null, '', '#' + path + (s ? '?' + s : ''));
}

export async function render() {
  const { path, query } = parse();
  if (current) current.controller.abort();
  const controller = new AbortController();
  const ctx = { path, query, params: {}, signal: controller.signal, controller, alive: () => !controller.signal.aborted };
  current = ctx;
  const found = routes.find((r) => r.re.test(path));
  if (!found) {
    location.hash = '/alarms';
    return;
  }
  const m = path.match(found.re);
  found.names.forEach((n, i) => (ctx.params[n] = decodeURIComponent(m[i + 1])));
  if (!(await before(path, found.options, ctx))) return;
  try {
    await found.render(ctx);
  } catch (e) {
    if (e && e.name === 'AbortError') return;
    throw e;
  }
}

export function start() {
  window.addEventListener('hashchange', () => render().catch(report));
  return render().catch(report);
}

function report(e) {
  if (e && e.name === 'AbortError') return;
  // Shown to the user by the page; kept out of the console's error stream on purpose only when handled.
  console.warn('page failed', e);
}
