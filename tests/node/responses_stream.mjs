// The official `openai` npm package calling a Tollgate edge's Responses API the way
// Codex-style agents do: streamed, with a function tool, and a second turn that sends the
// call's output back as a `function_call_output` item.
//
// Reads OPENAI_BASE_URL and OPENAI_API_KEY (as the SDK does) and TOLLGATE_MODEL; prints
// one JSON object with what it saw (event types and sequence numbers, text, tool call,
// usage) for tests/e2e/test_node_clients.py to check.
import OpenAI from "openai";

const client = new OpenAI({ maxRetries: 0, timeout: 30_000 });
const model = process.env.TOLLGATE_MODEL;
const tools = [
  {
    type: "function",
    name: "get_weather",
    description: "Weather",
    parameters: {
      type: "object",
      properties: { city: { type: "string" }, days: { type: "integer" } },
      required: ["city", "days"],
    },
  },
];

async function turn(input) {
  const stream = await client.responses.create({
    model,
    instructions: "You are terse",
    input,
    tools,
    max_output_tokens: 5,
    stream: true,
  });
  const seen = { types: [], sequence: [], text: "", arguments: "", completed: null };
  for await (const event of stream) {
    seen.types.push(event.type);
    seen.sequence.push(event.sequence_number);
    if (event.type === "response.output_text.delta") seen.text += event.delta;
    if (event.type === "response.function_call_arguments.delta") seen.arguments += event.delta;
    if (event.type === "response.completed") seen.completed = event.response;
  }
  return seen;
}

const conversation = [{ role: "user", content: "What is the weather in Paris" }];
const first = await turn(conversation);
const call = first.completed.output.find((item) => item.type === "function_call");
conversation.push(...first.completed.output, { type: "function_call_output", call_id: call.call_id, output: "Sunny and warm" });
const second = await turn(conversation);

const summary = (seen) => ({
  types: seen.types,
  sequence: seen.sequence,
  text: seen.text,
  arguments: seen.arguments,
  output_text: seen.completed.output_text ?? null,
  output_types: seen.completed.output.map((item) => item.type),
  model: seen.completed.model,
  usage: seen.completed.usage,
});
console.log(JSON.stringify({ call: { name: call.name, arguments: JSON.parse(call.arguments) }, first: summary(first), second: summary(second) }));
