// Every call to the staff API: same origin, the session cookie, and `X-Requested-With: cctrack`
// (the server wants it, or a matching Origin, for a change carried by the cookie).
// Errors come as {"code", "message", "field"}; a 401 anywhere sends the user back to login.

export class ApiError extends Error {
  constructor(status, body = {}) {
    super(body.message || body.error || `HTTP ${status}`);
    this.status = status;
    this.code = body.code || null;
    this.field = body.field || null;
    this.body = body;
  }
}

let unauthorized = () => {};
/** What to do on a 401 (set once by main.js). */
export function onUnauthorized(f) {
  unauthorized = f;
}

/**
 * One API call. `body` is sent as JSON; `signal` aborts it (page changes);
 * `expect401` lets the caller handle a 401 itself (login, the first /auth/me).
 */
export async function api(method, path, { body, signal, expect401 = false } = {}) {
  const headers = { 'X-Requested-With': 'cctrack', Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', signal };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, { code: 'network', message: e.message });
  }
  if (!r.ok) {
    let b = {};
    try {
      b = await r.json();
    } catch {
      /* not JSON */
    }
    const err = new ApiError(r.status, b);
    if (r.status === 401 && !expect401) unauthorized(err);
    throw err;
  }
  if (r.status === 204) return null;
  const type = r.headers.get('content-type') || '';
  return type.includes('json') ? r.json() : r.text();
}

export const get = (path, o) => api('GET', path, o);
export const post = (path, body, o = {}) => api('POST', path, { ...o, body: body === undefined ? {} : body });
export const patch = (path, body, o = {}) => api('PATCH', path, { ...o, body });
export const del = (path, o) => api('DELETE', path, o);

/** `?a=1&b=2` from an object, leaving out empty values. */
export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** Every page of a listing that pages with `before`/`next`, up to `max` items. */
export async function getAll(path, params, { signal, max = 5000, limit = 1000 } = {}) {
  const items = [];
  let before = params.before;
  for (;;) {
    const page = await get(path + qs({ ...params, before, limit }), { signal });
    items.push(...page.items);
    if (page.next == null || items.length >= max) return items;
    before = page.next;
  }
}

/** A Chinese sentence for an error, with the server's own words where they help. */
export function describe(err) {
  if (!(err instanceof ApiError)) return `出错了：${err && err.message ? err.message : err}`;
  const m = err.message;
  switch (err.status) {
    case 0:
      return '无法连接服务器，请检查网络后重试。';
    case 400:
    case 422:
      return `输入有误：${m}`;
    case 401:
      return '登录已失效，请重新登录。';
    case 403:
      return `无权执行此操作（${m}）`;
    case 404:
      return '未找到：该记录不存在，或不在本单位管辖范围内。';
    case 409:
      return `操作冲突：${m}`;
    case 429:
      return `尝试次数过多，请${err.body.retry_after_s ? ` ${Math.ceil(err.body.retry_after_s / 60)} 分钟后` : '稍后'}再试。`;
    case 503:
      return '服务暂时不可用，请稍后重试。';
    default:
      return `服务器错误（${err.status}）：${m}`;
  }
}
