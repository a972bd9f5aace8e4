// A development server for the console without a console-serving cctrack: serves dist/ and
// passes /api/, /console/config.json and /healthz to a running cctrack (server-sent events
// included). Answers /console/config.json itself ({"tile_url": null, "tile_crs": "wgs84"}) when
// the backend has no such route (CCTRACK_DEV_CONFIG overrides it, e.g. to try GCJ-02 mode).
//   CCTRACK_BACKEND=http://127.0.0.1:18080 CCTRACK_DEV_LISTEN=127.0.0.1:18081 node dev.mjs
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const backend = new URL(process.env.CCTRACK_BACKEND || 'http://127.0.0.1:18080');
const [host, port] = (process.env.CCTRACK_DEV_LISTEN || '127.0.0.1:18081').split(':');
const FILES = { '/': ['index.html', 'text/html; charset=utf-8'], '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'], '/app.css': ['app.css', 'text/css; charset=utf-8'] };
const DEFAULT_CONFIG = JSON.stringify({ tile_url: null, tile_crs: 'wgs84' });
// CCTRACK_DEV_CONFIG='{"tile_url":null,"tile_crs":"gcj02"}' answers /console/config.json with this instead.
const FORCED_CONFIG = process.env.CCTRACK_DEV_CONFIG || null;

function proxy(req, res, { fallback } = {}) {
  const up = http.request(
    { host: backend.hostname, port: backend.port, method: req.method, path: req.url, headers: req.headers },
    (r) => {
      if (fallback && r.statusCode === 404) {
        r.resume();
        res.writeHead(200, { 'content-type': 'application/json' }).end(fallback);
        return;
      }
      res.writeHead(r.statusCode, r.headers);
      res.flushHeaders(); // server-sent events: the browser's EventSource opens on the headers
      r.pipe(res);
    },
  );
  up.on('error', (e) => {
    if (fallback) return res.writeHead(200, { 'content-type': 'application/json' }).end(fallback);
    res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'bad_gateway', message: e.message }));
  });
  req.pipe(up);
  res.on('close', () => up.destroy());
}

http
  .createServer(async (req, res) => {
    const p = req.url.split('?')[0];
    if (p.startsWith('/api/') || p === '/healthz' || p === '/readyz') return proxy(req, res);
    if (p === '/console/config.json') {
      if (FORCED_CONFIG) return res.writeHead(200, { 'content-type': 'application/json' }).end(FORCED_CONFIG);
      return proxy(req, res, { fallback: DEFAULT_CONFIG });
    }
    const file = FILES[p];
    if (!file) return res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    try {
      const body = await readFile(path.join(here, 'dist', file[0]));
      res.writeHead(200, { 'content-type': file[1], 'cache-control': 'no-store' }).end(body);
    } catch {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('run `npm run build` first');
    }
  })
  .listen(Number(port), host, () => console.log(`dev: console on http://${host}:${port}/ → backend ${backend.origin}`));
