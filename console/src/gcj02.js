// WGS-84 ↔ GCJ-02, the standard public conversion (as in eviltransform / coordtransform, and as
// cctrack's geofence::crs does on the server). Used only for display on GCJ-02 intranet tiles:
// positions are shown converted, and fences drawn on such a map are sent with "crs": "gcj02".

const A = 6378245.0;
const EE = 0.006693421622965943;
const PI = Math.PI;

export function outsideChina(lon, lat) {
  return !(lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271);
}

function tLat(x, y) {
  let r = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
  r += ((20 * Math.sin(6 * x * PI) + 20 * Math.sin(2 * x * PI)) * 2) / 3;
  r += ((20 * Math.sin(y * PI) + 40 * Math.sin((y / 3) * PI)) * 2) / 3;
  r += ((160 * Math.sin((y / 12) * PI) + 320 * Math.sin((y * PI) / 30)) * 2) / 3;
  return r;
}

function tLon(x, y) {
  let r = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
  r += ((20 * Math.sin(6 * x * PI) + 20 * Math.sin(2 * x * PI)) * 2) / 3;
  r += ((20 * Math.sin(x * PI) + 40 * Math.sin((x / 3) * PI)) * 2) / 3;
  r += ((150 * Math.sin((x / 12) * PI) + 300 * Math.sin((x / 30) * PI)) * 2) / 3;
  return r;
}

/** [lon, lat] WGS-84 → [lon, lat] GCJ-02; unchanged outside China. */
export function wgs84ToGcj02(lon, lat) {
  if (!Number.isFinite(lon) || !Number.isFinite(lat) || outsideChina(lon, lat)) return [lon, lat];
  let dLat = tLat(lon - 105, lat - 35);
  let dLon = tLon(lon - 105, lat - 35);
  const rad = (lat / 180) * PI;
  let magic = Math.sin(rad);
  magic = 1 - EE * magic * magic;
  const sq = Math.sqrt(magic);
  dLat = (dLat * 180) / (((A * (1 - EE)) / (magic * sq)) * PI);
  dLon = (dLon * 180) / ((A / sq) * Math.cos(rad) * PI);
  return [lon + dLon, lat + dLat];
}

/** [lon, lat] GCJ-02 → WGS-84 by fixed-point iteration (to ~1e-10°, not the one-step guess). */
export function gcj02ToWgs84(lon, lat) {
  let x = lon;
  let y = lat;
  for (let i = 0; i < 20; i++) {
    const [fx, fy] = wgs84ToGcj02(x, y);
    const ex = fx - lon;
    const ey = fy - lat;
    x -= ex;
    y -= ey;
    if (Math.abs(ex) < 1e-12 && Math.abs(ey) < 1e-12) break;
  }
  return [x, y];
}

/** A copy of a GeoJSON value with every position passed through `f([lon, lat]) → [lon, lat]`. */
export function mapPositions(value, f) {
  if (Array.isArray(value)) {
    if (value.length >= 2 && typeof value[0] === 'number' && typeof value[1] === 'number') {
      return [...f(value[0], value[1]), ...value.slice(2)];
    }
    return value.map((v) => mapPositions(v, f));
  }
  if (value && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = k === 'properties' ? v : mapPositions(v, f);
    return out;
  }
  return value;
}
