// The server's pre-call test peer (docs/protocol.md "Signaling", signaling/precall.py): send
// the camera and microphone to a WebRTC peer on the server, get them echoed back, answer its
// pings on the "precall" data channel, and ask for its report: round trip, loss, whether a
// relay was needed, and a verdict sentence to show as it is.
import { RoomSocket } from "./socket.js";

const GATHERING_LIMIT_MS = 5000;
const MEASURE_AT_LEAST_MS = 4000;
const REPORT_EVERY_MS = 1000;
const GIVE_UP_AFTER_MS = 20000;

function delay(ms) {
  return new Promise((resolve) => window.setTimeout(resolve, ms));
}

// The test peer takes no trickled candidates: the offer must carry them all.
function gatheringComplete(pc) {
  if (pc.iceGatheringState === "complete") {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") {
        pc.removeEventListener("icegatheringstatechange", done);
        resolve();
      }
    };
    pc.addEventListener("icegatheringstatechange", done);
    window.setTimeout(resolve, GATHERING_LIMIT_MS);
  });
}

// The socket's first answer: a snapshot (welcome or lobby.waiting), or a final close.
function entered(socket) {
  return new Promise((resolve, reject) => {
    socket.addEventListener("welcome", ({ detail }) => resolve(detail.data.ice ? detail.data.ice.ice_servers : []), { once: true });
    socket.addEventListener("lobby.waiting", () => resolve([]), { once: true });
    socket.addEventListener("final", () => reject(Object.assign(new Error("The test could not connect to Hearth."), { code: "closed" })), { once: true });
  });
}

export async function runPrecallTest({ roomId, stream, echo, onProgress }) {
  const socket = new RoomSocket(roomId);
  let pc = null;
  try {
    onProgress("Connecting to the Hearth test…");
    socket.connect();
    const iceServers = await entered(socket);
    pc = new RTCPeerConnection({ iceServers });
    for (const track of stream.getTracks()) {
      pc.addTrack(track, stream);
    }
    const channel = pc.createDataChannel("precall");
    channel.addEventListener("message", ({ data }) => {
      let message;
      try {
        message = JSON.parse(data);
      } catch {
        return;
      }
      if (message && message.type === "ping" && typeof message.t === "number") {
        channel.send(JSON.stringify({ type: "pong", t: message.t }));
      }
    });
    pc.addEventListener("track", ({ streams }) => {
      if (echo && streams[0] && echo.srcObject !== streams[0]) {
        echo.srcObject = streams[0];
      }
    });
    await pc.setLocalDescription(await pc.createOffer());
    await gatheringComplete(pc);
    onProgress("Sending a test picture and sound to Hearth…");
    const answer = await socket.request("precall.offer", { sdp: pc.localDescription.sdp });
    await pc.setRemoteDescription({ type: "answer", sdp: answer.data.sdp });
    const started = Date.now();
    onProgress("Measuring your connection. This takes a few seconds…");
    while (Date.now() - started < GIVE_UP_AFTER_MS) {
      await delay(REPORT_EVERY_MS);
      if (Date.now() - started < MEASURE_AT_LEAST_MS) {
        continue;
      }
      try {
        const result = await socket.request("precall.report", {});
        if (result.data.rtt_ms !== null) {
          return result.data;
        }
      } catch (error) {
        if (error.code !== "precall_not_ready") {
          throw error;
        }
      }
    }
    throw Object.assign(new Error("The connection test did not finish in time."), { code: "timeout" });
  } finally {
    if (socket.isOpen) {
      socket.send("precall.stop", {});
    }
    if (pc) {
      pc.close();
    }
    // Let the stop frame leave before closing.
    window.setTimeout(() => socket.close(), 200);
  }
}
