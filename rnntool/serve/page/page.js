// rnntool serve's page: plain JavaScript over the /v1 API (no build step, no CDN).
"use strict";

const UNSURE_BELOW = 0.7;  // a tag's probability under this is marked as unsure
const ENTITY_COLOURS = { PER: "#aa9cfc", PERSON: "#aa9cfc", LOC: "#ff9561", GPE: "#feca74", ORG: "#7aecec",
                         MISC: "#c9e88a", DATE: "#bfe1d9", TIME: "#bfe1d9", NORP: "#c887fb", EVENT: "#ffeb80" };
const $ = (id) => document.getElementById(id);

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

function headers() {
  const h = { "Content-Type": "application/json" };
  const token = $("token").value || sessionStorage.getItem("rnntool-token");
  if (token) h.Authorization = "Bearer " + token;
  return h;
}

async function call(path, body, signal) {
  const response = await fetch(path, body === undefined ? { headers: headers() }
    : { method: "POST", headers: headers(), body: JSON.stringify(body), signal });
  if (response.status === 401) {
    $("token-box").hidden = false;
    throw new Error("this server needs its token: type it in the token box above");
  }
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try { message = (await response.json()).error.message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

function entityColour(type) {
  if (ENTITY_COLOURS[type]) return ENTITY_COLOURS[type];
  let h = 0;
  for (const c of type) h = (h * 31 + c.charCodeAt(0)) % 360;
  return `hsl(${h} 80% 78%)`;
}

// --- models ------------------------------------------------------------------------------
async function loadModels() {
  const models = (await (await call("/v1/models")).json()).data;
  const selects = { lm: $("lm-model"), tagger: $("tagger-model"), classifier: $("classifier-model") };
  const panels = { lm: "generate-panel", tagger: "tag-panel", classifier: "classify-panel" };
  for (const kind in selects) {
    const own = models.filter((m) => m.kind === kind);
    selects[kind].replaceChildren(...own.map((m) => {
      const option = new Option(`${m.id}${m.kind === "tagger" && m.scheme ? " (entities)" : ""}`, m.id, m.default, m.default);
      return option;
    }));
    $(panels[kind]).hidden = own.length === 0;
  }
  setStatus(`${models.length} model${models.length === 1 ? "" : "s"} loaded`);
}

// --- generate: the pieces appear as they are sampled ---------------------------------------
let running = null;

async function generate() {
  if (running) running.abort();
  const controller = running = new AbortController();
  $("prompt-echo").textContent = $("prompt").value;
  $("continuation").textContent = "";
  $("generate").disabled = true; $("stop").disabled = false;
  setStatus("generating…");
  try {
    const response = await call("/v1/generate", {
      model: $("lm-model").value, prompt: $("prompt").value, stream: true,
      temperature: Number($("temperature").value), max_tokens: Number($("max-tokens").value),
    }, controller.signal);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let pending = "", tokens = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += decoder.decode(value, { stream: true });
      const lines = pending.split("\n");
      pending = lines.pop();
      for (const line of lines) {
        if (!line) continue;
        const event = JSON.parse(line);
        if (event.piece !== undefined) $("continuation").textContent += event.piece;
        else if (event.result) tokens = event.result.tokens;
        else if (event.error) throw new Error(event.error.message);
      }
    }
    setStatus(`generated ${tokens} tokens`);
  } catch (error) {
    if (error.name === "AbortError") setStatus("stopped");
    else setStatus(error.message, true);
  } finally {
    if (running === controller) running = null;
    $("generate").disabled = false; $("stop").disabled = true;
  }
}

// --- tag: tokens inline, entities highlighted ----------------------------------------------
function tokenNode(token) {
  const node = document.createElement("span");
  node.className = "tok";
  const word = document.createElement("span");
  word.className = "word";
  word.textContent = token.text;
  node.append(word);
  if (token.showTag) {
    const tag = document.createElement("span");
    tag.className = "tag";
    tag.textContent = token.tag;
    node.append(tag);
  }
  if (token.confidence !== undefined && token.confidence < UNSURE_BELOW) node.classList.add("unsure");
  node.title = `${token.tag}${token.confidence !== undefined ? " " + token.confidence.toFixed(3) : ""}`;
  node.dataset.tag = token.tag;
  return node;
}

function gapNodes(text) {
  const out = [];
  text.split("\n").forEach((part, i) => {
    if (i > 0) out.push(document.createElement("br"));
    if (part) out.push(document.createTextNode(part));
  });
  return out;
}

function renderTags(doc) {
  const box = $("tagged");
  box.replaceChildren();
  const text = doc.text;
  let at = 0;
  for (const sentence of doc.sentences) {
    const entities = sentence.spans !== undefined;
    const spanAt = new Map((sentence.spans || []).map((s) => [s.start, s]));
    for (let i = 0; i < sentence.tokens.length; i++) {
      const [start, end] = sentence.offsets[i] || [null, null];
      if (start !== null && start > at) box.append(...gapNodes(text.slice(at, start)));
      const span = spanAt.get(i);
      if (span) {
        const mark = document.createElement("mark");
        mark.className = "entity";
        mark.style.background = entityColour(span.type);
        mark.dataset.type = span.type;
        mark.dataset.start = span.char_start;
        mark.dataset.end = span.char_end;
        const words = document.createElement("span");
        words.className = "entity-text";
        words.textContent = span.text;
        const label = document.createElement("span");
        label.className = "entity-label";
        label.textContent = span.type;
        mark.append(words, label);
        const confidences = (sentence.confidence || []).slice(span.start, span.end);
        if (confidences.some((c) => c < UNSURE_BELOW)) mark.classList.add("unsure");
        mark.title = `${span.type}${confidences.length ? " (lowest token probability " + Math.min(...confidences).toFixed(3) + ")" : ""}`;
        box.append(mark);
        at = span.char_end ?? at;
        i = span.end - 1;
        continue;
      }
      box.append(tokenNode({ text: sentence.tokens[i], tag: sentence.tags[i], showTag: !entities,
                             confidence: sentence.confidence ? sentence.confidence[i] : undefined }));
      if (end !== null) at = end;
    }
  }
  if (at < text.length) box.append(...gapNodes(text.slice(at)));
}

async function tag() {
  setStatus("tagging…");
  try {
    const answer = await (await call("/v1/tag", { model: $("tagger-model").value, text: $("tag-text").value })).json();
    renderTags(answer.result);
    const n = answer.result.sentences.reduce((sum, s) => sum + s.tokens.length, 0);
    setStatus(`tagged ${n} tokens with ${answer.model}`);
  } catch (error) { setStatus(error.message, true); }
}

// --- classify: the classes' probabilities as bars --------------------------------------------
async function classify() {
  setStatus("classifying…");
  try {
    const answer = await (await call("/v1/classify", { model: $("classifier-model").value,
                                                       text: $("classify-text").value })).json();
    const result = answer.result;
    const rows = Object.entries(result.probabilities).sort((a, b) => b[1] - a[1]).map(([name, p]) => {
      const row = document.createElement("div");
      row.className = "class-row" + (result.labels.includes(name) ? " chosen" : "");
      row.dataset.label = name;
      row.dataset.probability = p;
      const label = document.createElement("span"); label.className = "name"; label.textContent = name;
      const bar = document.createElement("div"); bar.className = "bar";
      const fill = document.createElement("div"); fill.style.width = (100 * p).toFixed(1) + "%"; bar.append(fill);
      const value = document.createElement("span"); value.className = "value"; value.textContent = (100 * p).toFixed(1) + "%";
      row.append(label, bar, value);
      return row;
    });
    $("classes").replaceChildren(...rows);
    setStatus(`${answer.model}: ${result.labels.join(", ") || "no class"}`);
  } catch (error) { setStatus(error.message, true); }
}

// --- wiring ----------------------------------------------------------------------------------
$("unsure-level").textContent = UNSURE_BELOW;
$("generate").addEventListener("click", generate);
$("stop").addEventListener("click", () => running && running.abort());
$("tag").addEventListener("click", tag);
$("classify").addEventListener("click", classify);
$("token").addEventListener("change", () => { sessionStorage.setItem("rnntool-token", $("token").value); loadModels().catch((e) => setStatus(e.message, true)); });
loadModels().catch((error) => setStatus(error.message, true));
