// The page of `mapo serve`: read a CSV, ask /api/ask, show programs and what each step touched.
"use strict";

const $ = (id) => document.getElementById(id);
let rows = [];       // the table as sent: header row first
let reply = null;    // the last answer
let chosen = 0;      // the selected program

// RFC 4180 CSV (quotes, doubled quotes, CRLF); blank lines are skipped, as `mapo ask` does.
function parseCsv(text) {
  const delimiter = text.split("\n", 1)[0].includes("\t") && !text.split("\n", 1)[0].includes(",") ? "\t" : ",";
  const out = [];
  let row = [], cell = "", quoted = false;
  text = text.replace(/^\ufeff/, "");
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; }
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"' && cell === "") quoted = true;
    else if (c === delimiter) { row.push(cell); cell = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(cell); cell = "";
      if (row.length > 1 || row[0] !== "") out.push(row);
      row = [];
    } else cell += c;
  }
  row.push(cell);
  if (row.length > 1 || row[0] !== "") out.push(row);
  return out;
}

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

function showTable(step) {
  const table = $("table");
  table.replaceChildren();
  if (!rows.length) return;
  const kept = new Set(step ? step.rows : []);
  const columns = new Set(step ? step.columns : []);
  const last = reply && reply.programs[chosen] ? reply.programs[chosen].steps.at(-1) : null;
  const answerCells = step && step === last && step.type === "cells";
  const head = table.createTHead().insertRow();
  const corner = document.createElement("th");
  corner.className = "index"; corner.textContent = "row";
  head.appendChild(corner);
  rows[0].forEach((name, c) => {
    const th = document.createElement("th");
    th.textContent = name; th.scope = "col";
    if (columns.has(c)) th.className = "column";
    head.appendChild(th);
  });
  const body = table.createTBody();
  rows.slice(1).forEach((cells, r) => {
    const tr = body.insertRow();
    if (kept.has(r)) tr.className = "kept";
    const index = tr.insertCell();
    index.className = "index"; index.textContent = r;
    cells.forEach((text, c) => {
      const td = tr.insertCell();
      td.textContent = text;
      const classes = [];
      if (columns.has(c)) classes.push("column");
      if (answerCells && kept.has(r) && columns.has(c)) classes.push("answer");
      td.className = classes.join(" ");
    });
  });
  const first = table.querySelector("tr.kept");
  if (first) first.scrollIntoView({ block: "nearest" });
}

function choose(list, index) {
  [...$(list).querySelectorAll("button")].forEach((b, i) => b.setAttribute("aria-pressed", i === index));
}

function showStep(index) {
  choose("steps", index);
  showTable(reply.programs[chosen].steps[index]);
}

function showProgram(index) {
  chosen = index;
  choose("programs", index);
  const steps = reply.programs[index].steps;
  $("steps").replaceChildren(...steps.map((step, i) => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = `${step.name} = ${step.expression}`;
    const meta = document.createElement("span");
    meta.className = "meta"; meta.textContent = step.value;
    button.appendChild(meta);
    button.addEventListener("click", () => showStep(i));
    li.appendChild(button);
    return li;
  }));
  if (steps.length) showStep(steps.length - 1); else showTable(null);
}

function showReply() {
  $("result").hidden = false;
  $("answer").textContent = reply.answer.length ? reply.answer.join(" | ") : "(no valid program)";
  $("programs").replaceChildren(...reply.programs.map((program, i) => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = program.program;
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = `p = ${program.probability.toFixed(3)} → ${program.answer.join(" | ") || "(empty)"}`;
    button.appendChild(meta);
    button.addEventListener("click", () => showProgram(i));
    li.appendChild(button);
    return li;
  }));
  if (reply.programs.length) showProgram(0);
  else { $("steps").replaceChildren(); showTable(null); }
}

async function ask(event) {
  event.preventDefault();
  rows = parseCsv($("csv").value);
  showTable(null);
  const question = $("question").value.trim();
  if (!question) { status("type a question", true); return; }
  status("thinking…");
  $("ask").disabled = true;
  try {
    const response = await fetch("/api/ask", {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ question, rows }),
    });
    const body = await response.json();
    if (!response.ok) { status(body.error || `error ${response.status}`, true); return; }
    reply = body;
    status(`${reply.programs.length} program${reply.programs.length === 1 ? "" : "s"}`);
    showReply();
  } catch (error) {
    status(`no answer from the server: ${error}`, true);
  } finally {
    $("ask").disabled = false;
  }
}

async function loadExample() {
  const name = $("example").value;
  if (!name) return;
  const response = await fetch(`/page/examples/${name}`);
  $("csv").value = await response.text();
  rows = parseCsv($("csv").value);
  showTable(null);
}

function upload() {
  const file = $("upload").files[0];
  if (!file) return;
  file.text().then((text) => {
    $("csv").value = text;
    $("example").value = "";
    rows = parseCsv(text);
    showTable(null);
    status(`${file.name}: ${Math.max(rows.length - 1, 0)} rows`);
  });
}

async function describeModel() {
  try {
    const model = await (await fetch("/api/model")).json();
    const accuracy = model.bundled && model.bundled.dev_accuracy_reranked
      ? `, ${(100 * model.bundled.dev_accuracy_reranked).toFixed(1)} % on WikiTableQuestions dev` : "";
    const name = model.bundled ? `${model.bundled.name}, bundled with mapo` : model.runs.join(", ");
    $("model").textContent = `model: ${name} (${model.encoder} encoder${accuracy})`;
  } catch (error) {
    $("model").textContent = "the server did not say which model it serves";
  }
}

$("ask-form").addEventListener("submit", ask);
$("example").addEventListener("change", loadExample);
$("upload").addEventListener("change", upload);
$("upload").previousElementSibling.addEventListener("keydown", (event) => {
  if (event.key === "Enter" || event.key === " ") { event.preventDefault(); $("upload").click(); }
});
$("upload").previousElementSibling.tabIndex = 0;
$("csv").addEventListener("change", () => { rows = parseCsv($("csv").value); showTable(null); });
describeModel();
$("example").value = "medals.csv";
loadExample();
