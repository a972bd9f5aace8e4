// The live alarm feed (`GET /api/v1/events`, server-sent events named "alarm" whose data is a
// feed event: {position, kind, at, alarm_id, alarm_kind, person_id, office_id, fence_id, by,
// from_state, to_state, fixed_at, note, details}). EventSource reconnects by itself with
// Last-Event-ID, so nothing is missed; the pages subscribe. Also the new-alarm beep (WebAudio,
// no sound file).

const listeners = new Set();
let source = null;
let statusListeners = new Set();
let status = 'off';
let onClosed = () => {};

function setStatus(s) {
  status = s;
  statusListeners.forEach((f) => f(s));
}

export function liveStatus() {
  return status;
}

export function onLiveStatus(f) {
  statusListeners.add(f);
  f(status);
  return () => statusListeners.delete(f);
}

/** Subscribes to alarm events; returns the unsubscribe function. */
export function subscribe(f) {
  listeners.add(f);
  return () => listeners.delete(f);
}

/** Opens the stream (after login). `closed` is called when the server refuses it (session over). */
export function connect(closed) {
  onClosed = closed || onClosed;
  if (source) return;
  source = new EventSource('/api/v1/events');
  source.addEventListener('open', () => setStatus('on'));
  source.addEventListener('alarm', (m) => {
    let e;
    try {
      e = JSON.parse(m.data);
    } catch {
      return;
    }
    listeners.forEach((f) => f(e));
  });
  source.addEventListener('error', () => {
    if (source && source.readyState === EventSource.CLOSED) {
      // Refused (e.g. 401 after the session ended): find out why, then try again later.
      source = null;
      setStatus('off');
      onClosed();
    } else {
      setStatus('retry');
    }
  });
}

export function disconnect() {
  if (source) source.close();
  source = null;
  setStatus('off');
}

// ---- sound ----
let audio = null;
let muted = localStorage.getItem('cctrack.mute') === '1';

export const isMuted = () => muted;
export function setMuted(m) {
  muted = m;
  localStorage.setItem('cctrack.mute', m ? '1' : '0');
}

/** Called from a user gesture (login, a click) so that the browser lets the page play sound. */
export function unlockAudio() {
  if (audio && audio.state === 'running') return;
  try {
    if (!audio) audio = new (window.AudioContext || window.webkitAudioContext)();
    if (audio.state === 'suspended') audio.resume();
  } catch {
    audio = null;
  }
}

/** Two short tones. */
export function beep() {
  if (muted || !audio || audio.state !== 'running') return;
  try {
    const t = audio.currentTime;
    for (const [i, f] of [880, 660].entries()) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = 'sine';
      osc.frequency.value = f;
      gain.gain.setValueAtTime(0.0001, t + i * 0.22);
      gain.gain.exponentialRampToValueAtTime(0.3, t + i * 0.22 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + i * 0.22 + 0.2);
      osc.connect(gain).connect(audio.destination);
      osc.start(t + i * 0.22);
      osc.stop(t + i * 0.22 + 0.21);
    }
  } catch {
    /* no audio device: the visual cue remains */
  }
}
