// The official `openai` npm package generating an image, speaking a sentence and moderating
// a text through a Tollgate edge. Reads OPENAI_BASE_URL and OPENAI_API_KEY (as the SDK does);
// prints one JSON object with what the client decoded (the PNG's and the WAV's own headers)
// for tests/e2e/test_node_media.py to check.
import OpenAI from "openai";

const client = new OpenAI({ maxRetries: 0, timeout: 30_000 });

const image = await client.images.generate({ model: "image-1", prompt: "a fox", size: "256x256", n: 1 });
const png = Buffer.from(image.data[0].b64_json, "base64");

const speech = await client.audio.speech.create({ model: "tts-1", voice: "alloy", input: "Hello from Node.", response_format: "wav" });
const wav = Buffer.from(await speech.arrayBuffer());

const moderation = await client.moderations.create({ model: "moderation-1", input: "I will kill the process" });

console.log(
  JSON.stringify({
    png: {
      signature: png.subarray(1, 4).toString("latin1"),
      width: png.readUInt32BE(16),
      height: png.readUInt32BE(20),
    },
    wav: {
      riff: wav.subarray(0, 4).toString("latin1"),
      wave: wav.subarray(8, 12).toString("latin1"),
      channels: wav.readUInt16LE(22),
      rate: wav.readUInt32LE(24),
      bytes: wav.length,
      contentType: speech.headers.get("content-type"),
    },
    flagged: moderation.results[0].flagged,
  }),
);
