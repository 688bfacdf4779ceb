// What every peer connection of a call needs: trickled candidates sent in batches, waiting for ICE gathering
// (the SFU does not trickle), and a connection-quality hint read from getStats().

import { command } from '../core/socket.js';

const BATCH_MS = 50;
const MAX_PER_FRAME = 50; // the server's limit per call.candidates
const GATHER_TIMEOUT_MS = 3000;
const POOR_RTT_S = 0.6;
const FAIR_RTT_S = 0.3;

/** {type, sdp} of a session description, as the protocol carries it. */
export function description(desc) {
  return { type: desc.type, sdp: desc.sdp };
}

/**
 * Collects `pc`'s ICE candidates for ~50 ms and sends them in one `call.candidates`; the end of candidates is an
 * empty `candidate`. Holds them until `open()` (the call exists on the server once the invite is answered).
 */
export function candidateSender(pc, fields) {
  let queue = [];
  let timer = 0;
  let opened = false;
  let stopped = false;

  function flush() {
    timer = 0;
    if (!opened || stopped || !queue.length) return;
    while (queue.length) {
      const batch = queue.splice(0, MAX_PER_FRAME);
      command('call.candidates', { ...fields(), candidates: batch }).catch(() => {});
    }
  }

  pc.addEventListener('icecandidate', (event) => {
    if (stopped) return;
    const c = event.candidate;
    queue.push(c ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex } : { candidate: '' });
    if (!timer) timer = setTimeout(flush, BATCH_MS);
  });

  return {
    open() {
      opened = true;
      flush();
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      queue = [];
    },
  };
}

/** Add the other side's candidates; before its description is set they wait (they may come first). */
export function candidateReceiver(pc) {
  const waiting = [];
  const add = (candidate) => pc.addIceCandidate(candidate.candidate ? candidate : { candidate: '' }).catch(() => {
    // A candidate of a generation already past (after an ICE restart) is refused: harmless.
  });
  return {
    add(candidates) {
      for (const candidate of candidates || []) {
        if (!candidate || typeof candidate.candidate !== 'string') continue;
        if (pc.remoteDescription) add(candidate);
        else waiting.push(candidate);
      }
    },
    /** The remote description is set: add what waited. */
    ready() {
      for (const candidate of waiting.splice(0)) add(candidate);
    },
  };
}

/** Resolves once `pc` has gathered its candidates (or after 3 s: what it has then will do). */
export function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, GATHER_TIMEOUT_MS);
    function done() {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    }
    function check() {
      if (pc.iceGatheringState === 'complete') done();
    }
    pc.addEventListener('icegatheringstatechange', check);
  });
}

/**
 * Reads `pcs`' statistics every time it is called: {quality: 'good' | 'fair' | 'poor' | null, rtt, loss,
 * framesDecoded, byTrack} from the round-trip time of the active candidate pair, the share of packets lost since the last
 * reading, and whether video that should arrive is decoded.
 */
export function qualityMeter() {
  let last = { received: 0, lost: 0, frames: 0 };
  return async function measure(pcs, { expectVideo }) {
    let rtt = null;
    let received = 0;
    let lost = 0;
    let frames = 0;
    let inbound = false; // anything arriving at all (alone in a group call, nothing does)
    const byTrack = {}; // incoming video track id -> frames decoded
    for (const pc of pcs) {
      if (!pc || pc.connectionState === 'closed') continue;
      const stats = await pc.getStats();
      stats.forEach((s) => {
        if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded' && typeof s.currentRoundTripTime === 'number') {
          rtt = Math.max(rtt || 0, s.currentRoundTripTime);
        } else if (s.type === 'inbound-rtp') {
          inbound = true;
          received += s.packetsReceived || 0;
          lost += Math.max(0, s.packetsLost || 0);
          if (s.kind === 'video') {
            frames += s.framesDecoded || 0;
            if (s.trackIdentifier) byTrack[s.trackIdentifier] = s.framesDecoded || 0;
          }
        }
      });
    }
    const dReceived = received - last.received;
    const dLost = lost - last.lost;
    const loss = dReceived + dLost > 0 ? dLost / (dReceived + dLost) : 0;
    const stalled = expectVideo && frames <= last.frames;
    last = { received, lost, frames };
    let quality = null;
    if (rtt !== null || inbound) {
      if ((rtt !== null && rtt > POOR_RTT_S) || (inbound && (loss > 0.1 || dReceived === 0))) quality = 'poor';
      else if ((rtt !== null && rtt > FAIR_RTT_S) || loss > 0.03 || stalled) quality = 'fair';
      else quality = 'good';
    }
    return { quality, rtt, loss, framesDecoded: frames, byTrack };
  };
}
