// A short test tone generated in the browser as a WAV file, so the speaker test needs no
// download and plays through an <audio> element (whose output device can be chosen).

export function toneWavBlob({ frequency = 660, seconds = 0.8, sampleRate = 22050, volume = 0.4 } = {}) {
  return concatWav([toneSamples({ frequency, seconds, sampleRate, volume })], sampleRate);
}

// Two soft notes, for "someone is knocking": noticeable without being alarming.
export function chimeWavBlob() {
  return concatWav([
    toneSamples({ frequency: 660, seconds: 0.25 }),
    toneSamples({ frequency: 880, seconds: 0.35 }),
  ]);
}

function toneSamples({ frequency, seconds, sampleRate = 22050, volume = 0.35 }) {
  const count = Math.floor(seconds * sampleRate);
  const samples = new Int16Array(count);
  const fade = Math.floor(0.03 * sampleRate);
  for (let i = 0; i < count; i += 1) {
    const envelope = Math.min(1, i / fade, (count - i) / fade);
    samples[i] = Math.round(Math.sin((2 * Math.PI * frequency * i) / sampleRate) * volume * envelope * 32767);
  }
  return samples;
}

function concatWav(parts, sampleRate = 22050) {
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const buffer = new ArrayBuffer(44 + total * 2);
  const view = new DataView(buffer);
  const writeAscii = (offset, text) => {
    for (let i = 0; i < text.length; i += 1) {
      view.setUint8(offset + i, text.charCodeAt(i));
    }
  };
  writeAscii(0, "RIFF");
  view.setUint32(4, 36 + total * 2, true);
  writeAscii(8, "WAVE");
  writeAscii(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  writeAscii(36, "data");
  view.setUint32(40, total * 2, true);
  let offset = 44;
  for (const part of parts) {
    for (const sample of part) {
      view.setInt16(offset, sample, true);
      offset += 2;
    }
  }
  return new Blob([buffer], { type: "audio/wav" });
}
