// Mesh WebRTC: one RTCPeerConnection per other participant, negotiated with the "perfect
// negotiation" pattern (W3C webrtc-pc, example 13), so either side may start or restart
// negotiation at any time and offer glare resolves itself.
//
// Roles come from signaling/roles.py: of two participants "p-<n>", the one with the higher
// number is polite (it rolls back its own offer on a collision). Signals travel as
// `signal.send {to, description | candidate}` and arrive as `signal {from, ...}`; the server
// sets `from`.

function participantNumber(id) {
  const match = /^p-(\d{1,18})$/.exec(id);
  return match ? Number(match[1]) : null;
}

export function isPolite(me, peer) {
  const a = participantNumber(me);
  const b = participantNumber(peer);
  if (a !== null && b !== null && a !== b) {
    return a > b;
  }
  // The fallback of roles.py: numbered ids sort first, then by the whole string.
  const key = (id) => [participantNumber(id) === null ? 1 : 0, participantNumber(id) || 0, id];
  const [ka, kb] = [key(me), key(peer)];
  for (let i = 0; i < 3; i += 1) {
    if (ka[i] !== kb[i]) {
      return ka[i] > kb[i];
    }
  }
  return false;
}

const OFFER_ANSWER_WITHIN_MS = 6000;

// The SDP "o=" session id stays the same for the whole life of an RTCPeerConnection, so a
// new one means the other side reloaded the page and is talking from a new connection.
function sessionId(sdp) {
  const match = /^o=\S+ (\d+) /m.exec(sdp || "");
  return match ? match[1] : null;
}

class Peer {
  constructor(mesh, remoteId) {
    this.mesh = mesh;
    this.remoteId = remoteId;
    this.polite = isPolite(mesh.me, remoteId);
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.settingRemoteAnswer = false;
    // Signals are applied one at a time, in arrival order.
    this.queue = Promise.resolve();
    this.stream = new MediaStream();
    this.restartPending = false;

    const pc = new RTCPeerConnection({ iceServers: mesh.iceServers });
    this.pc = pc;
    for (const track of mesh.localStream ? mesh.localStream.getTracks() : []) {
      pc.addTrack(track, mesh.localStream);
    }
    if (!mesh.localStream || !mesh.localStream.getAudioTracks().length) {
      pc.addTransceiver("audio", { direction: "recvonly" });
    }
    if (!mesh.localStream || !mesh.localStream.getVideoTracks().length) {
      pc.addTransceiver("video", { direction: "recvonly" });
    }
    this.remoteSession = null;
    this.setVideoDirection(mesh.audioOnly);
    pc.addEventListener("negotiationneeded", () => this.offer());
    pc.addEventListener("icecandidate", ({ candidate }) => {
      if (candidate && candidate.candidate) {
        this.signal({ candidate: candidate.toJSON() });
      }
    });
    pc.addEventListener("track", ({ track }) => {
      this.stream.addTrack(track);
      track.addEventListener("ended", () => this.stream.removeTrack(track));
      this.mesh.emit("track", { id: this.remoteId, stream: this.stream });
    });
    pc.addEventListener("iceconnectionstatechange", () => {
      if (pc.iceConnectionState === "failed") {
        this.restart();
      }
    });
    pc.addEventListener("connectionstatechange", () => {
      this.mesh.emit("peerstate", { id: this.remoteId, state: pc.connectionState });
    });
  }

  signal(data) {
    this.mesh.socket.send("signal.send", { to: this.remoteId, ...data });
  }

  async offer() {
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      this.signal({ description: this.pc.localDescription.toJSON() });
      this.watchOffer();
    } catch (error) {
      this.mesh.emit("problem", { id: this.remoteId, error });
    } finally {
      this.makingOffer = false;
    }
  }

  // An offer can be lost (the other side was not in the room yet when it was relayed, or our
  // socket dropped): without an answer in time, take it back and offer again.
  watchOffer() {
    window.clearTimeout(this.offerTimer);
    this.offerTimer = window.setTimeout(() => {
      this.queue = this.queue.then(async () => {
        if (this.pc.signalingState !== "have-local-offer" || !this.mesh.socket.isOpen) {
          return;
        }
        await this.pc.setLocalDescription({ type: "rollback" });
        await this.offer();
      }).catch((error) => this.mesh.emit("problem", { id: this.remoteId, error }));
    }, OFFER_ANSWER_WITHIN_MS);
  }

  // An ICE restart (new network, failed path). Waits for the socket if it is down.
  restart() {
    if (!this.mesh.socket.isOpen) {
      this.restartPending = true;
      return;
    }
    this.restartPending = false;
    this.pc.restartIce();
  }

  receive(data) {
    this.queue = this.queue.then(() => this.apply(data)).catch((error) => this.mesh.emit("problem", { id: this.remoteId, error }));
  }

  async apply({ description, candidate }) {
    const pc = this.pc;
    if (description) {
      const readyForOffer = !this.makingOffer && (pc.signalingState === "stable" || this.settingRemoteAnswer);
      const collision = description.type === "offer" && !readyForOffer;
      this.ignoreOffer = !this.polite && collision;
      if (this.ignoreOffer) {
        return;
      }
      this.settingRemoteAnswer = description.type === "answer";
      try {
        await pc.setRemoteDescription(description);
      } finally {
        this.settingRemoteAnswer = false;
      }
      if (description.type === "offer") {
        await pc.setLocalDescription();
        this.signal({ description: pc.localDescription.toJSON() });
      }
    } else if (candidate) {
      try {
        await pc.addIceCandidate(candidate);
      } catch (error) {
        if (!this.ignoreOffer) {
          throw error;
        }
      }
    }
  }

  // Audio only: neither send nor receive video on this connection (renegotiates by itself).
  setVideoDirection(audioOnly) {
    for (const transceiver of this.pc.getTransceivers()) {
      if (transceiver.receiver.track.kind !== "video" || transceiver.currentDirection === "stopped") {
        continue;
      }
      const sends = transceiver.sender.track !== null;
      const wanted = audioOnly ? "inactive" : sends ? "sendrecv" : "recvonly";
      if (transceiver.direction !== wanted) {
        transceiver.direction = wanted;
      }
    }
  }

  close() {
    window.clearTimeout(this.offerTimer);
    this.pc.close();
  }
}

export class Mesh extends EventTarget {
  constructor({ socket }) {
    super();
    this.socket = socket;
    this.me = null;
    this.iceServers = [];
    this.localStream = null;
    this.audioOnly = false;
    this.peers = new Map();
  }

  setAudioOnly(audioOnly) {
    this.audioOnly = audioOnly;
    for (const peer of this.peers.values()) {
      peer.setVideoDirection(audioOnly);
    }
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  setIdentity(me, iceServers) {
    this.me = me;
    this.iceServers = iceServers || [];
    for (const peer of this.peers.values()) {
      peer.pc.setConfiguration({ iceServers: this.iceServers });
    }
  }

  peer(id) {
    if (!this.me || id === this.me) {
      return null;
    }
    let peer = this.peers.get(id);
    if (!peer) {
      peer = new Peer(this, id);
      this.peers.set(id, peer);
    }
    return peer;
  }

  // The people in the room now: connect to the new ones, hang up on those who are gone, and
  // after a reconnect repair the paths that broke meanwhile.
  sync(ids) {
    const wanted = new Set(ids.filter((id) => id !== this.me));
    for (const [id, peer] of this.peers) {
      if (!wanted.has(id)) {
        this.drop(id);
      } else if (peer.restartPending || !["connected", "connecting", "new"].includes(peer.pc.connectionState) || peer.pc.signalingState !== "stable") {
        peer.restart();
      }
    }
    for (const id of wanted) {
      this.peer(id);
    }
  }

  onSignal(data) {
    let peer = this.peer(data.from);
    if (!peer) {
      return;
    }
    if (data.description) {
      const session = sessionId(data.description.sdp);
      if (peer.remoteSession && session && session !== peer.remoteSession) {
        // They reloaded: start over with a fresh connection. A stray answer to our old
        // connection is dropped; the fresh connection makes its own offer.
        this.drop(data.from);
        peer = this.peer(data.from);
        if (data.description.type !== "offer") {
          return;
        }
      }
      peer.remoteSession = session || peer.remoteSession;
    }
    peer.receive(data);
  }

  drop(id) {
    const peer = this.peers.get(id);
    if (peer) {
      peer.close();
      this.peers.delete(id);
      this.emit("gone", { id });
    }
  }

  closeAll() {
    for (const id of [...this.peers.keys()]) {
      this.drop(id);
    }
  }

  stats() {
    return [...this.peers.values()].map((peer) => ({ id: peer.remoteId, state: peer.pc.connectionState }));
  }
}
