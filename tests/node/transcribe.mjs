// The official `openai` npm package transcribing a WAV through a Tollgate edge, twice: from a
// file stream (the SDK sends the form's fields first) and from a `File` placed before `model`
// (the SDK sends the file first). Reads OPENAI_BASE_URL, OPENAI_API_KEY and WAV_PATH; prints
// the srt and the verbose_json duration for tests/e2e/test_node_media.py to check.
import fs from "node:fs";
import OpenAI, { toFile } from "openai";

const client = new OpenAI({ maxRetries: 0, timeout: 30_000 });
const path = process.env.WAV_PATH;

const srt = await client.audio.transcriptions.create({ file: fs.createReadStream(path), model: "whisper-1", response_format: "srt" });
const file = await toFile(fs.readFileSync(path), "speech.wav", { type: "audio/wav" });
const verbose = await client.audio.transcriptions.create({ file, model: "whisper-1", response_format: "verbose_json" });

console.log(JSON.stringify({ srt, duration: verbose.duration, segments: verbose.segments.length }));
