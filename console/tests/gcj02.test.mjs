// The console's WGS-84 ↔ GCJ-02 conversion agrees with the server's (geofence::crs) on the
// published vectors. `node --test tests/` (or `npm test`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { wgs84ToGcj02, gcj02ToWgs84, mapPositions } from '../src/gcj02.js';

test('published forward pair (coordtransform, eviltransform)', () => {
  const [x, y] = wgs84ToGcj02(116.404, 39.915);
  assert.ok(Math.abs(x - 116.41024449916938) < 1e-11 && Math.abs(y - 39.91640428150164) < 1e-11, `${x}, ${y}`);
});

test('the inverse returns the WGS-84 position to 1e-9 degrees', () => {
  for (const [lon, lat] of [[122.235, 40.667], [116.404, 39.915], [121.47, 31.23], [113.26, 23.13]]) {
    const [x, y] = gcj02ToWgs84(...wgs84ToGcj02(lon, lat));
    assert.ok(Math.abs(x - lon) < 1e-9 && Math.abs(y - lat) < 1e-9, `${lon},${lat} → ${x},${y}`);
  }
});

test('no offset outside China', () => {
  assert.deepEqual(wgs84ToGcj02(2.35, 48.85), [2.35, 48.85]);
  assert.deepEqual(gcj02ToWgs84(-74.0, 40.7), [-74.0, 40.7]);
});

test('GeoJSON positions are converted, properties are not', () => {
  const f = { type: 'Feature', properties: { radius_m: 300, c: [1, 2] }, geometry: { type: 'Point', coordinates: [116.404, 39.915] } };
  const g = mapPositions(f, wgs84ToGcj02);
  assert.deepEqual(g.properties, f.properties);
  assert.ok(Math.abs(g.geometry.coordinates[0] - 116.41024449916938) < 1e-11);
});
