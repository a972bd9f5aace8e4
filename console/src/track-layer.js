// A trajectory drawn on one canvas of its own: the line, every fix as a dot coloured by its
// verdict, the breach moments, and the playback position. One pass over the projected points
// per redraw: 10,000 fixes draw in a few milliseconds, where 10,000 Leaflet markers would not.
import L from './leaflet.js';
import { VERDICT_COLOUR } from './labels.js';

export const TrackLayer = L.Layer.extend({
  /** points: [{latlng: L.LatLng, verdict: 'inside'|'uncertain'|'outside', breach: bool}] */
  initialize(points) {
    this._points = points;
    this._current = -1;
    this._projected = null;
    this._zoom = null;
  },

  onAdd(map) {
    this._map = map;
    this._canvas = L.DomUtil.create('canvas', 'leaflet-zoom-hide track-canvas');
    this._canvas.style.pointerEvents = 'none';
    map.getPane('overlayPane').appendChild(this._canvas);
    map.on('moveend viewreset resize', this._redraw, this);
    this._redraw();
  },

  onRemove(map) {
    map.off('moveend viewreset resize', this._redraw, this);
    L.DomUtil.remove(this._canvas);
  },

  getBounds() {
    let s = 90;
    let w = 180;
    let n = -90;
    let e = -180;
    for (const { latlng } of this._points) {
      if (latlng.lat < s) s = latlng.lat;
      if (latlng.lat > n) n = latlng.lat;
      if (latlng.lng < w) w = latlng.lng;
      if (latlng.lng > e) e = latlng.lng;
    }
    return L.latLngBounds([s, w], [n, e]);
  },

  /** The playback position (−1: none); redraws unless `quiet` (before the layer is added). */
  setCurrent(i, quiet = false) {
    this._current = i;
    if (!quiet) this._redraw();
  },

  _project() {
    const z = this._map.getZoom();
    if (this._zoom === z && this._projected) return this._projected;
    const out = new Float64Array(this._points.length * 2);
    this._points.forEach((p, i) => {
      const q = this._map.project(p.latlng, z);
      out[2 * i] = q.x;
      out[2 * i + 1] = q.y;
    });
    this._zoom = z;
    this._projected = out;
    return out;
  },

  _redraw() {
    if (!this._map) return;
    const map = this._map;
    const size = map.getSize();
    const ratio = window.devicePixelRatio || 1;
    const c = this._canvas;
    if (c.width !== size.x * ratio || c.height !== size.y * ratio) {
      c.width = size.x * ratio;
      c.height = size.y * ratio;
      c.style.width = `${size.x}px`;
      c.style.height = `${size.y}px`;
    }
    const topLeft = map.containerPointToLayerPoint([0, 0]);
    L.DomUtil.setPosition(c, topLeft);
    const ctx = c.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, size.x, size.y);
    const n = this._points.length;
    if (!n) return;
    const xy = this._project();
    // Canvas pixel = projected pixel − the map's pixel origin − the canvas's own layer position.
    const origin = map.getPixelOrigin();
    const shiftX = -origin.x - topLeft.x;
    const shiftY = -origin.y - topLeft.y;
    const X = (i) => xy[2 * i] + shiftX;
    const Y = (i) => xy[2 * i + 1] + shiftY;

    // The line: grey ahead of the playback position, dark blue behind it.
    const cur = this._current;
    const line = (from, to, colour) => {
      if (to - from < 1) return;
      ctx.beginPath();
      ctx.moveTo(X(from), Y(from));
      let lx = X(from);
      let ly = Y(from);
      for (let i = from + 1; i <= to; i++) {
        const x = X(i);
        const y = Y(i);
        if (Math.abs(x - lx) + Math.abs(y - ly) < 1 && i !== to) continue;
        ctx.lineTo(x, y);
        lx = x;
        ly = y;
      }
      ctx.strokeStyle = colour;
      ctx.lineWidth = 2;
      ctx.lineJoin = 'round';
      ctx.stroke();
    };
    if (cur >= 0) {
      line(0, cur, '#1d4e89');
      line(cur, n - 1, '#9aa5b1');
    } else line(0, n - 1, '#1d4e89');

    // Dots, batched by colour; skip dots that land on the same pixel as the previous one.
    const r = n > 3000 ? 2 : 3;
    for (const verdict of ['inside', 'uncertain', 'outside']) {
      ctx.beginPath();
      let lx = -1e9;
      let ly = -1e9;
      for (let i = 0; i < n; i++) {
        if (this._points[i].verdict !== verdict) continue;
        const x = X(i);
        const y = Y(i);
        if (x < -5 || y < -5 || x > size.x + 5 || y > size.y + 5) continue;
        if (Math.abs(x - lx) < 1 && Math.abs(y - ly) < 1) continue;
        ctx.moveTo(x + r, y);
        ctx.arc(x, y, r, 0, 2 * Math.PI);
        lx = x;
        ly = y;
      }
      ctx.fillStyle = VERDICT_COLOUR[verdict];
      ctx.fill();
    }
    // Breach moments: a ring.
    ctx.beginPath();
    for (let i = 0; i < n; i++) {
      if (!this._points[i].breach) continue;
      ctx.moveTo(X(i) + 8, Y(i));
      ctx.arc(X(i), Y(i), 8, 0, 2 * Math.PI);
    }
    ctx.strokeStyle = VERDICT_COLOUR.outside;
    ctx.lineWidth = 2.5;
    ctx.stroke();
    // Playback position.
    if (cur >= 0 && cur < n) {
      ctx.beginPath();
      ctx.arc(X(cur), Y(cur), 9, 0, 2 * Math.PI);
      ctx.fillStyle = '#ffffff';
      ctx.fill();
      ctx.lineWidth = 4;
      ctx.strokeStyle = VERDICT_COLOUR[this._points[cur].verdict] || '#1d4e89';
      ctx.stroke();
    }
  },
});
