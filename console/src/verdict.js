// A fix's verdicts ([{fence, kind, position: inside|outside|uncertain, distance_m}], positions
// relative to each fence's shape) as one compliance verdict for display:
//   outside   — definitely in breach: inside a forbidden place, or outside every area it must be in;
//   uncertain — not definitely compliant (within the accuracy of a boundary);
//   inside    — compliant.
export function compliance(verdicts) {
  if (!Array.isArray(verdicts) || !verdicts.length) return 'inside';
  const inc = verdicts.filter((v) => v.kind === 'inclusion');
  const exc = verdicts.filter((v) => v.kind === 'exclusion');
  if (exc.some((v) => v.position === 'inside')) return 'outside';
  let result = 'inside';
  if (inc.length && !inc.some((v) => v.position === 'inside')) {
    result = inc.some((v) => v.position === 'uncertain') ? 'uncertain' : 'outside';
  }
  if (result === 'inside' && exc.some((v) => v.position === 'uncertain')) result = 'uncertain';
  return result;
}

/** Track points for the map: verdict per fix, breach moments where a definite breach begins. */
export function trackPoints(points, toMap, extraBreaches = new Set()) {
  let prev = 'inside';
  return points.map((p) => {
    const verdict = compliance(p.verdicts);
    const breach = (verdict === 'outside' && prev !== 'outside') || extraBreaches.has(Date.parse(p.time));
    prev = verdict;
    return { latlng: toMap(p.lat, p.lon), verdict, breach, fix: p };
  });
}
