// leaflet-geoman (drawing and editing), loaded after Leaflet is the global `L`, in Chinese.
import L from './leaflet.js';
import '@geoman-io/leaflet-geoman-free';

/** Prepares geoman on `map`: Chinese hints, no snapping to the base map's boundaries. */
export function enableDrawing(map) {
  map.pm.setLang('zh');
  map.pm.setGlobalOptions({
    snappable: false,
    allowSelfIntersection: false,
    continueDrawing: false,
    templineStyle: { color: '#1d4e89' },
    hintlineStyle: { color: '#1d4e89', dashArray: [5, 5] },
    pathOptions: { color: '#1d4e89', weight: 3, fillOpacity: 0.15 },
  });
  return map;
}

export { L };
