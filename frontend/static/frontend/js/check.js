// The pre-call check: camera preview, microphone level, a speaker test and device pickers,
// with plain help when the browser blocks the camera or microphone.
import { byId, h, setText, show } from "./dom.js";
import {
  browserFamily,
  isMobile,
  loadDeviceChoice,
  mediaConstraints,
  permissionHelp,
  saveDeviceChoice,
} from "./devices.js";
import { runPrecallTest } from "./precall.js";
import { toneWavBlob } from "./tone.js";

const preview = byId("preview");
const meter = byId("mic-level");
const startButton = byId("start-check");

let stream = null;
let audioContext = null;
let meterTimer = null;
let choice = loadDeviceChoice();
let heardSound = false;

function stopStream() {
  if (stream) {
    for (const track of stream.getTracks()) {
      track.stop();
    }
  }
  stream = null;
  if (meterTimer !== null) {
    window.clearInterval(meterTimer);
    meterTimer = null;
  }
}

function startMeter() {
  if (!stream.getAudioTracks().length) {
    setText(byId("mic-status"), "No microphone is in use.");
    return;
  }
  const AudioContextClass = window.AudioContext || window.webkitAudioContext;
  audioContext = audioContext || new AudioContextClass();
  // Created during the button press, so browsers let it run; resume covers a later restart.
  audioContext.resume();
  const source = audioContext.createMediaStreamSource(stream);
  const analyser = audioContext.createAnalyser();
  analyser.fftSize = 1024;
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  heardSound = false;
  setText(
    byId("mic-status"),
    audioContext.state === "suspended"
      ? "Press Restart the check to see your microphone level."
      : "Listening… say something.",
  );
  meterTimer = window.setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const sample of samples) {
      sum += sample * sample;
    }
    const level = Math.min(1, Math.sqrt(sum / samples.length) * 4);
    meter.value = level;
    meter.textContent = `${Math.round(level * 100)}%`;
    if (!heardSound && level > 0.02) {
      heardSound = true;
      setText(byId("mic-status"), "We can hear your microphone.");
    }
  }, 100);
}

function fillSelect(select, devices, selectedId, fallbackLabel) {
  const options = devices.map((device, index) =>
    h("option", { value: device.deviceId, text: device.label || `${fallbackLabel} ${index + 1}` }),
  );
  select.replaceChildren(...options);
  if (selectedId && devices.some((device) => device.deviceId === selectedId)) {
    select.value = selectedId;
  }
}

async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  const videoTrack = stream && stream.getVideoTracks()[0];
  const audioTrack = stream && stream.getAudioTracks()[0];
  const inUse = (track) => (track ? track.getSettings().deviceId : undefined);
  fillSelect(byId("camera-select"), devices.filter((d) => d.kind === "videoinput"), inUse(videoTrack) || choice.camera, "Camera");
  fillSelect(byId("mic-select"), devices.filter((d) => d.kind === "audioinput"), inUse(audioTrack) || choice.microphone, "Microphone");
  const speakers = devices.filter((d) => d.kind === "audiooutput");
  // Only browsers that can route audio to a chosen output get the speaker picker.
  if (speakers.length && "setSinkId" in HTMLMediaElement.prototype) {
    fillSelect(byId("speaker-select"), speakers, choice.speaker, "Speaker");
    show(byId("speaker-field"));
  }
  byId("devices").disabled = false;
}

function showPermissionHelp(error) {
  const section = byId("permission-help");
  let summary;
  let steps = [];
  if (error.name === "NotAllowedError" || error.name === "SecurityError") {
    summary =
      "Hearth needs your permission to use the camera and microphone. Here is how to allow them in this browser. " +
      "If you already allowed them, your computer's privacy settings may be blocking the browser.";
    steps = permissionHelp(browserFamily(), isMobile());
  } else if (error.name === "NotFoundError" || error.name === "OverconstrainedError") {
    summary = "We could not find a camera or microphone. Check that one is plugged in and switched on, then press Try again.";
    choice = {};
    saveDeviceChoice(choice);
  } else if (error.name === "NotReadableError" || error.name === "AbortError") {
    summary = "Another app is using your camera or microphone. Close other video-call apps, then press Try again.";
  } else {
    summary = "The camera and microphone could not be started. Reload the page and try again.";
  }
  setText(byId("permission-summary"), summary);
  byId("permission-steps").replaceChildren(...steps.map((step) => h("li", { text: step })));
  show(section);
  section.focus();
}

async function startCheck() {
  show(byId("permission-help"), false);
  stopStream();
  setText(byId("camera-status"), "Starting your camera and microphone…");
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showPermissionHelp({ name: "NotSupported" });
    setText(byId("camera-status"), "This browser cannot use a camera here. Try an up-to-date Chrome, Safari or Firefox.");
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia(mediaConstraints(choice));
  } catch (error) {
    setText(byId("camera-status"), "");
    showPermissionHelp(error);
    return;
  }
  preview.srcObject = stream;
  show(byId("preview-empty"), false);
  setText(byId("camera-status"), stream.getVideoTracks().length ? "This is how others will see you." : "Your camera is off.");
  startMeter();
  await listDevices();
  setText(startButton, "Restart the check");
  if (!connectionTested) {
    testConnection();
  }
}

// --- the server's test peer --------------------------------------------------------------

const roomId = document.getElementById("main").dataset.roomId;
let connectionTested = false;
let testing = false;

async function testConnection() {
  if (testing || !stream) {
    return;
  }
  testing = true;
  connectionTested = true;
  const button = byId("test-connection");
  button.hidden = true;
  show(byId("connection-verdict"), false);
  show(byId("connection-facts"), false);
  show(byId("echo-box"));
  try {
    const result = await runPrecallTest({
      roomId,
      stream,
      echo: byId("echo"),
      onProgress: (text) => setText(byId("connection-status"), text),
    });
    showResult(result);
  } catch (error) {
    setText(byId("connection-status"), `The connection test could not finish: ${error.message} You can still join the session.`);
  } finally {
    testing = false;
    button.hidden = false;
    // The echo stops with the test: no frozen picture left behind.
    show(byId("echo-box"), false);
  }
}

function showResult(result) {
  setText(byId("connection-status"), "");
  const verdict = byId("connection-verdict");
  setText(verdict, result.verdict);
  verdict.className = `verdict verdict--${result.verdict_code}`;
  show(verdict);
  setText(byId("connection-rtt"), result.rtt_ms === null ? "Not measured" : `${Math.round(result.rtt_ms)} ms`);
  setText(byId("connection-loss"), result.packet_loss_pct === null ? "Not measured" : `${result.packet_loss_pct}%`);
  setText(byId("connection-relay"), result.relay_used ? "Yes (your network needed a relay server)" : "No");
  show(byId("connection-facts"));
  // The room page starts with audio only when the test says video would freeze.
  window.sessionStorage.setItem(`hearth.audioOnly.${roomId}`, result.verdict_code === "good" ? "0" : "1");
}

function onDeviceChange() {
  choice = {
    camera: byId("camera-select").value || undefined,
    microphone: byId("mic-select").value || undefined,
    speaker: byId("speaker-select").value || undefined,
  };
  saveDeviceChoice(choice);
  startCheck();
}

async function playTone() {
  const audio = byId("tone");
  if (!audio.src) {
    audio.src = URL.createObjectURL(toneWavBlob());
  }
  if (choice.speaker && audio.setSinkId) {
    try {
      await audio.setSinkId(choice.speaker);
    } catch {
      // The chosen speaker is gone: play on the default one.
    }
  }
  audio.currentTime = 0;
  try {
    await audio.play();
  } catch {
    // Autoplay rules only apply without a press; a press always plays.
  }
}

startButton.addEventListener("click", startCheck);
byId("retry-check").addEventListener("click", startCheck);
byId("play-tone").addEventListener("click", playTone);
byId("test-connection").addEventListener("click", testConnection);
byId("camera-select").addEventListener("change", onDeviceChange);
byId("mic-select").addEventListener("change", onDeviceChange);
byId("speaker-select").addEventListener("change", () => {
  choice.speaker = byId("speaker-select").value || undefined;
  saveDeviceChoice(choice);
});
window.addEventListener("pagehide", stopStream);

// Someone who already allowed the camera goes straight to the preview, with no extra press.
async function autoStart() {
  if (!navigator.permissions || !navigator.permissions.query) {
    return;
  }
  try {
    const [camera, microphone] = await Promise.all([
      navigator.permissions.query({ name: "camera" }),
      navigator.permissions.query({ name: "microphone" }),
    ]);
    if (camera.state === "granted" && microphone.state === "granted") {
      startCheck();
    }
  } catch {
    // Firefox and older Safari do not know these names: wait for the button.
  }
}

autoStart();
