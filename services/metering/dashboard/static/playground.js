// Playground: chat with the account's models through the gateway (metering's
// /console/api/playground, which calls the edge with the account's console key), streamed.

import { $, api, authHeaders, el } from "./api.js";
import { registerPage } from "./console.js";

class Conversation {
  constructor() {
    this.messages = [];
    this.busy = false;
  }
}

async function loadModels(ctx) {
  const select = $("pg-model");
  const chosen = select.value;
  const listed = await api("/console/api/playground/models", { params: { account_id: ctx.account() } });
  const ids = listed.data.map((m) => m.id).sort();
  select.replaceChildren(...ids.map((id) => el("option", { value: id }, id)));
  if (ids.includes(chosen)) select.value = chosen;
  $("pg-send").disabled = ids.length === 0;
  $("pg-status").textContent = ids.length ? "" : "This account can use no model.";
}

function bubble(role, text) {
  const node = el("div", { class: `msg ${role}` }, el("span", { class: "text" }, text));
  $("pg-log").append(node);
  node.scrollIntoView({ block: "nearest" });
  return node;
}

function finish(node, state, meta) {
  node.dataset.state = state;
  if (meta) node.append(el("span", { class: "meta" }, meta));
}

// The answer's text from an SSE stream of chat.completion.chunk events.
async function readStream(response, onText) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let usage = null;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, end).trim();
      buffer = buffer.slice(end + 1);
      if (!line.startsWith("data:")) continue;
      const data = line.slice(5).trim();
      if (data === "[DONE]") continue;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(chunk.error.message || "the stream failed");
      if (chunk.usage) usage = chunk.usage;
      const piece = chunk.choices?.[0]?.delta?.content;
      if (piece) onText(piece);
    }
  }
  return usage;
}

async function send(ctx, chat) {
  const input = $("pg-input");
  const text = input.value.trim();
  if (!text || chat.busy) return;
  chat.busy = true;
  $("pg-send").disabled = true;
  input.value = "";
  chat.messages.push({ role: "user", content: text });
  bubble("user", text);
  const answer = bubble("assistant", "");
  const shown = answer.querySelector(".text");
  const body = { model: $("pg-model").value, messages: chat.messages, max_tokens: Number($("pg-max-tokens").value) || 256, stream: true };
  const query = ctx.account() ? `?account_id=${encodeURIComponent(ctx.account())}` : "";
  try {
    const response = await fetch(`/console/api/playground/chat${query}`, {
      method: "POST", cache: "no-store", body: JSON.stringify(body),
      headers: { ...authHeaders("", "POST"), "Content-Type": "application/json", Accept: "text/event-stream" },
    });
    answer.dataset.requestId = response.headers.get("x-request-id") || "";
    if (!response.ok) {
      const failed = await response.json().catch(() => null);
      throw new Error(failed?.error?.message || `HTTP ${response.status}`);
    }
    const usage = await readStream(response, (piece) => { shown.textContent += piece; });
    chat.messages.push({ role: "assistant", content: shown.textContent });
    const channel = response.headers.get("x-tollgate-channel");
    const tokens = usage ? ` · ${usage.prompt_tokens} in / ${usage.completion_tokens} out` : "";
    finish(answer, "done", `${body.model}${channel ? ` via ${channel}` : ""}${tokens}`);
  } catch (err) {
    chat.messages.pop(); // the question goes unanswered: it is not part of the conversation sent next
    answer.classList.add("failed");
    shown.textContent = err.message;
    finish(answer, "failed");
  } finally {
    chat.busy = false;
    $("pg-send").disabled = false;
  }
}

registerPage("playground", {
  init(ctx) {
    const chat = new Conversation();
    $("pg-form").addEventListener("submit", (event) => {
      event.preventDefault();
      send(ctx, chat);
    });
    $("pg-input").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        send(ctx, chat);
      }
    });
    $("pg-clear").addEventListener("click", () => {
      chat.messages = [];
      $("pg-log").replaceChildren();
    });
  },
  load: (ctx) => (ctx.hasAccount() ? loadModels(ctx) : undefined),
});
