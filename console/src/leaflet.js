// Leaflet, also as the global `L` that leaflet-geoman's bundle expects when it loads.
import L from 'leaflet';

window.L = L;
export default L;
