// Maps without the internet: Leaflet on its canvas renderer; the base layer is the
// organisations' own district boundaries with Chinese labels, or an intranet tile server when
// configured (`/console/config.json`). On GCJ-02 tiles every WGS-84 position is converted for
// display (gcj02.js), and what is drawn there is sent back tagged "crs": "gcj02".
import L from './leaflet.js';
import iconUrl from 'leaflet/dist/images/marker-icon.png';
import iconRetinaUrl from 'leaflet/dist/images/marker-icon-2x.png';
import shadowUrl from 'leaflet/dist/images/marker-shadow.png';
import { session, organisations } from './session.js';
import { wgs84ToGcj02, mapPositions } from './gcj02.js';

// Leaflet guesses its marker images' folder from the stylesheet; give it the inlined images.
L.Icon.Default.imagePath = '';
L.Icon.Default.mergeOptions({ iconUrl, iconRetinaUrl, shadowUrl });

export { L };

const YINGKOU = [40.62, 122.3];

/** Whether the map shows GCJ-02 (then drawings are sent with crs gcj02). */
export const mapCrs = () => session.config.tile_crs;

/** A WGS-84 position as a LatLng on this map. */
export function toMap(lat, lon) {
  if (mapCrs() === 'gcj02') {
    const [x, y] = wgs84ToGcj02(lon, lat);
    return L.latLng(y, x);
  }
  return L.latLng(lat, lon);
}

/** A WGS-84 GeoJSON value in this map's system. */
export function geoToMap(g) {
  return mapCrs() === 'gcj02' ? mapPositions(g, wgs84ToGcj02) : g;
}

/** A map in `el` with the base layer. The Leaflet map is also `el.leafletMap` (tests use it). */
export function createMap(el, { center = YINGKOU, zoom = 9 } = {}) {
  const renderer = L.canvas({ padding: 0.3 });
  const map = L.map(el, {
    preferCanvas: true,
    renderer,
    attributionControl: false,
    zoomControl: true,
    minZoom: 4,
    maxZoom: 19,
    keyboard: true,
  }).setView(center, zoom);
  map.canvasRenderer = renderer;
  el.leafletMap = map;
  map.toDisplayLatLng = toMap;
  L.control.scale({ imperial: false }).addTo(map);
  // The container may change size as the page around it renders.
  if (window.ResizeObserver) {
    const ro = new ResizeObserver(() => map.invalidateSize({ pan: false }));
    ro.observe(el);
    map.on('unload', () => ro.disconnect());
  }
  if (session.config.tile_url) {
    L.tileLayer(session.config.tile_url, { maxZoom: 19, crossOrigin: false }).addTo(map);
  }
  map.baseReady = addBoundaries(map);
  return map;
}

async function addBoundaries(map) {
  let orgs;
  try {
    orgs = await organisations();
  } catch {
    return null;
  }
  const pane = map.createPane('boundaries');
  pane.style.zIndex = 250;
  const group = L.layerGroup().addTo(map);
  const withTiles = !!session.config.tile_url;
  for (const o of orgs) {
    if (!o.boundary) continue;
    const county = o.kind !== 'city';
    const layer = L.geoJSON(geoToMap(o.boundary), {
      pane: 'boundaries',
      renderer: map.canvasRenderer,
      interactive: false,
      pmIgnore: true,
      style: {
        color: county ? '#78909c' : '#37474f',
        weight: county ? 1.2 : 2.2,
        fill: !withTiles && county,
        fillColor: '#ffffff',
        fillOpacity: 0.55,
      },
    }).addTo(group);
    if (county || orgs.filter((x) => x.boundary).length === 1) {
      const c = layer.getBounds().getCenter();
      L.tooltip({ permanent: true, direction: 'center', className: 'district-label', interactive: false })
        .setLatLng(c)
        .setContent(o.name)
        .addTo(group);
    }
  }
  return group;
}

const STYLE = {
  inclusion: { color: '#1565c0', weight: 2, fillColor: '#1e88e5', fillOpacity: 0.06 },
  exclusion: { color: '#c62828', weight: 2, fillColor: '#e53935', fillOpacity: 0.18 },
};

/**
 * A corridor (a line and a half width in metres) drawn as it is: the line stroked with round
 * caps and joins at a width of twice the half width, in pixels at the current zoom (a line's
 * stroke is exactly its buffer), and the centre line dashed on top.
 */
const CorridorBand = L.Polyline.extend({
  initialize(latlngs, halfWidth, options) {
    L.Polyline.prototype.initialize.call(this, latlngs, { ...options, lineCap: 'round', lineJoin: 'round', fill: false });
    this._halfWidth = halfWidth;
  },
  onAdd(map) {
    this.options.weight = this._width(map);
    map.on('zoomend', this._fitWidth, this);
    L.Polyline.prototype.onAdd.call(this, map);
  },
  onRemove(map) {
    map.off('zoomend', this._fitWidth, this);
    L.Polyline.prototype.onRemove.call(this, map);
  },
  _width(map) {
    const ll = this.getLatLngs();
    const lat = ll.length ? ll[0].lat : 0;
    const metresPerPixel = (40075016.686 * Math.cos((lat * Math.PI) / 180)) / (256 * 2 ** map.getZoom());
    return Math.max(2, (2 * this._halfWidth) / metresPerPixel);
  },
  _fitWidth() {
    if (this._map) this.setStyle({ weight: this._width(this._map) });
  },
});

export function corridorLayers(latlngs, halfWidth, style, renderer) {
  const band = new CorridorBand(latlngs, halfWidth, { color: style.fillColor || style.color, opacity: style.fillOpacity ?? 0.15, renderer, interactive: false, pmIgnore: true });
  const centre = L.polyline(latlngs, { color: style.color, weight: 2, dashArray: '6 4', renderer, pmIgnore: true });
  return [band, centre];
}

/**
 * A fence as the profile gives it ({kind, shape, geometry (WGS-84), radius_m, half_width_m,
 * shared, name}) as a Leaflet layer group on `map`.
 */
export function fenceLayer(map, f, extra = {}) {
  const style = { ...(STYLE[f.kind] || STYLE.inclusion), ...(f.shared ? { dashArray: '8 5' } : {}), pmIgnore: true, ...extra };
  const renderer = map.canvasRenderer;
  const g = geoToMap(f.geometry);
  let layers;
  if (f.shape === 'circle' && g.type === 'Point') {
    layers = [L.circle([g.coordinates[1], g.coordinates[0]], { ...style, radius: f.radius_m, renderer })];
  } else if (f.shape === 'corridor' && g.type === 'LineString') {
    layers = corridorLayers(g.coordinates.map(([x, y]) => L.latLng(y, x)), f.half_width_m || 50, style, renderer);
  } else {
    layers = [L.geoJSON(g, { style, renderer, pmIgnore: true })];
  }
  const group = L.featureGroup(layers, { pmIgnore: true });
  group.bindTooltip(`${f.name}（${f.kind === 'exclusion' ? '禁止区域' : '活动区域'}）`, { sticky: true });
  return group;
}

/** Fits the map to the layers (or leaves it where it is). */
export function fit(map, layers, maxZoom = 15) {
  const b = L.latLngBounds([]);
  for (const l of layers) {
    if (!l) continue;
    if (l.getBounds) {
      const lb = l.getBounds();
      if (lb.isValid()) b.extend(lb);
    } else if (l.getLatLng) b.extend(l.getLatLng());
  }
  if (b.isValid()) map.fitBounds(b, { padding: [24, 24], maxZoom, animate: false });
}

/** A small round marker for a position (canvas, no image). */
export function dot(latlng, colour, radius = 6, renderer) {
  return L.circleMarker(latlng, { radius, color: '#fff', weight: 2, fillColor: colour, fillOpacity: 1, renderer });
}
