// The drawing page: strokes on a canvas, a theme picker from /v1/themes, and POST /v1/generate.
"use strict";

const pad = document.getElementById("pad");
const ink = pad.getContext("2d");
const result = document.getElementById("result");
const message = document.getElementById("message");
const makeButton = document.getElementById("make");
const againButton = document.getElementById("again");

const drawing = { tool: "pen", width: 8, strokes: [], current: null };
let theme = null;
let busy = false;

// ---- drawing: every stroke is kept as points, so undo is "drop the last stroke and redraw" ----

function strokeStyle(stroke) {
  ink.strokeStyle = ink.fillStyle = stroke.tool === "eraser" ? "#ffffff" : "#000000";
  ink.lineWidth = stroke.width;
  ink.lineCap = "round";
  ink.lineJoin = "round";
}

function drawSegment(stroke, from, to) {
  strokeStyle(stroke);
  ink.beginPath();
  ink.moveTo(from[0], from[1]);
  ink.lineTo(to[0], to[1]);
  ink.stroke();
}

function drawStroke(stroke) {
  const pts = stroke.points;
  strokeStyle(stroke);
  ink.beginPath();
  ink.moveTo(pts[0][0], pts[0][1]);
  if (pts.length === 1) {
    ink.arc(pts[0][0], pts[0][1], stroke.width / 2, 0, 2 * Math.PI);
    ink.fill();
    return;
  }
  for (const p of pts.slice(1)) ink.lineTo(p[0], p[1]);
  ink.stroke();
}

function redraw() {
  ink.fillStyle = "#ffffff";
  ink.fillRect(0, 0, pad.width, pad.height);
  drawing.strokes.forEach(drawStroke);
}

function padPoint(clientX, clientY) {
  const box = pad.getBoundingClientRect();
  return [(clientX - box.left) * pad.width / box.width, (clientY - box.top) * pad.height / box.height];
}

function startStroke(x, y) {
  const width = drawing.tool === "eraser" ? drawing.width * 3 : drawing.width;
  drawing.current = { tool: drawing.tool, width, points: [padPoint(x, y)] };
  drawing.strokes.push(drawing.current);
  drawStroke(drawing.current);
}

function extendStroke(x, y) {
  const stroke = drawing.current;
  if (!stroke) return;
  const p = padPoint(x, y);
  drawSegment(stroke, stroke.points[stroke.points.length - 1], p);
  stroke.points.push(p);
}

function endStroke() {
  drawing.current = null;
}

if (window.PointerEvent) {  // mouse, pen and finger alike
  pad.addEventListener("pointerdown", (ev) => {
    ev.preventDefault();
    pad.setPointerCapture(ev.pointerId);
    startStroke(ev.clientX, ev.clientY);
  });
  pad.addEventListener("pointermove", (ev) => {
    if (!drawing.current) return;
    ev.preventDefault();
    const moves = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [ev];
    for (const m of (moves.length ? moves : [ev])) extendStroke(m.clientX, m.clientY);
  });
  ["pointerup", "pointercancel", "lostpointercapture"].forEach((name) => pad.addEventListener(name, endStroke));
} else {  // older tablets: touch events
  pad.addEventListener("touchstart", (ev) => { ev.preventDefault(); const t = ev.touches[0]; startStroke(t.clientX, t.clientY); });
  pad.addEventListener("touchmove", (ev) => { ev.preventDefault(); const t = ev.touches[0]; extendStroke(t.clientX, t.clientY); });
  pad.addEventListener("touchend", endStroke);
  pad.addEventListener("mousedown", (ev) => startStroke(ev.clientX, ev.clientY));
  pad.addEventListener("mousemove", (ev) => extendStroke(ev.clientX, ev.clientY));
  window.addEventListener("mouseup", endStroke);
}

// ---- tools ----

function choose(group, button) {
  group.forEach((b) => { b.classList.toggle("chosen", b === button); b.setAttribute("aria-pressed", b === button); });
}

const toolButtons = [document.getElementById("pen"), document.getElementById("eraser")];
toolButtons.forEach((b) => b.addEventListener("click", () => { drawing.tool = b.id; choose(toolButtons, b); }));

const sizeButtons = Array.from(document.querySelectorAll(".size"));
sizeButtons.forEach((b) => b.addEventListener("click", () => { drawing.width = Number(b.dataset.width); choose(sizeButtons, b); }));

document.getElementById("undo").addEventListener("click", () => { drawing.strokes.pop(); redraw(); });
document.getElementById("clear").addEventListener("click", () => { drawing.strokes = []; redraw(); });

// ---- themes and pictures ----

function say(text, oops) {
  message.textContent = text;
  message.classList.toggle("oops", Boolean(oops));
}

function setBusy(on) {
  busy = on;
  makeButton.disabled = on || !theme;
  againButton.disabled = on || !result.getAttribute("src");
  document.querySelector(".frame").classList.toggle("busy", on);
}

async function loadThemes() {
  const nav = document.getElementById("themes");
  try {
    const answer = await fetch("/v1/themes");
    if (!answer.ok) throw new Error(`themes: HTTP ${answer.status}`);
    const { themes } = await answer.json();
    const buttons = themes.map((t) => {
      const b = document.createElement("button");
      b.className = "theme";
      b.textContent = t.title;
      b.dataset.theme = t.name;
      b.addEventListener("click", () => { theme = t.name; choose(buttons, b); });
      nav.appendChild(b);
      return b;
    });
    if (buttons.length) buttons[0].click();
    else say("No pictures to make yet.", true);
  } catch (err) {
    say("The picture machine is asleep. Try again soon!", true);
    console.error(err);
  }
  setBusy(false);
}

function sketchBlob() {
  return new Promise((resolve) => pad.toBlob(resolve, "image/png"));
}

async function makePicture(variation) {
  if (busy || !theme) return;
  if (!drawing.strokes.some((s) => s.tool === "pen")) { say("Draw something first!", true); return; }
  setBusy(true);
  say("Making it...");
  try {
    const form = new FormData();
    form.append("sketch", await sketchBlob(), "drawing.png");
    form.append("theme", theme);
    if (variation !== null) form.append("variation", String(variation));
    // the theme in the URL too: a busy service says so before the drawing is uploaded
    const answer = await fetch(`/v1/generate?theme=${encodeURIComponent(theme)}`, { method: "POST", body: form });
    if (!answer.ok) {
      const problem = await answer.json().catch(() => ({ detail: `HTTP ${answer.status}` }));
      throw new Error(answer.status === 503 ? "busy" : problem.detail);
    }
    const old = result.getAttribute("src");
    result.src = URL.createObjectURL(await answer.blob());
    if (old) URL.revokeObjectURL(old);
    say("Ta-da!");
  } catch (err) {
    say(err.message === "busy" ? "Lots of drawings right now. Try again!" : "Oops! Try again.", true);
    console.error(err);
  }
  setBusy(false);
}

makeButton.addEventListener("click", () => makePicture(null));
againButton.addEventListener("click", () => makePicture(Math.floor(Math.random() * 2147483647)));

redraw();
loadThemes();
