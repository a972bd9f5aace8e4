// Who is signed in, what the role may do (the server decides; the console only hides what the
// role may not take), and the console's configuration.
import { get } from './api.js';

export const session = {
  user: null,
  /** Organisations in scope, with boundaries for the base map (loaded on demand). */
  orgs: null,
  config: { tile_url: null, tile_crs: 'wgs84' },
};

export async function loadConfig() {
  try {
    const r = await fetch('/console/config.json', { credentials: 'same-origin' });
    if (r.ok) {
      const c = await r.json();
      session.config = { tile_url: c.tile_url || null, tile_crs: c.tile_crs === 'gcj02' ? 'gcj02' : 'wgs84' };
    }
  } catch {
    /* keep the defaults: boundaries only, WGS-84 */
  }
}

let orgsLoading = null;
/** The organisations in scope with simplified boundaries (cached for the session). */
export function organisations() {
  if (session.orgs) return Promise.resolve(session.orgs);
  if (!orgsLoading) {
    orgsLoading = get('/api/v1/organisations?tolerance_m=100')
      .then((o) => (session.orgs = o))
      .finally(() => (orgsLoading = null));
  }
  return orgsLoading;
}

export function orgName(id) {
  const o = (session.orgs || []).find((x) => x.id === id);
  return o ? o.name : `#${id}`;
}

const role = () => (session.user ? session.user.role : null);

export const can = {
  /** Change anything at all (auditors only read). */
  write: () => !!role() && role() !== 'auditor',
  handleAlarms: () => can.write(),
  editFences: () => can.write(),
  requestLeave: () => can.write(),
  /** Decide a leave of `days` days: an office up to 7, the county or city beyond. */
  decideLeave: (days) => role() === 'county_admin' || role() === 'city_admin' || (role() === 'office_staff' && days <= 7),
  proposeLevel: () => role() === 'office_staff',
  decideLevel: () => role() === 'county_admin' || role() === 'city_admin',
  readAudit: () => role() === 'auditor' || role() === 'city_admin',
};

/** Where a role starts. */
export function home() {
  switch (role()) {
    case 'city_admin':
      return '/dashboard';
    case 'auditor':
      return '/audit';
    default:
      return '/alarms';
  }
}
