// The drawing page: pen and crayon strokes on a canvas, a theme picker from /v1/themes, and POST /v1/generate
// (the lines and the crayon layer as two images); for a model that colours line drawings, the colours it chose
// (X-Colours) as dots the child can keep.
"use strict";

const pad = document.getElementById("pad");
const view = pad.getContext("2d");
const result = document.getElementById("result");
const message = document.getElementById("message");
const makeButton = document.getElementById("make");
const againButton = document.getElementById("again");
const keepButton = document.getElementById("keep");
const suggestedView = document.getElementById("suggested").getContext("2d");

// tool: "pen" (thin black lines), "crayon" (broad strokes in `colour`) or "eraser" (takes away lines and colour)
const PEN_COLOUR = "#000000";  // the crayon box's black swatch is the pen
const drawing = { tool: "pen", colour: "#e53935", width: 8, crayonWidth: 36, strokes: [], current: null };
let theme = null;      // the chosen theme, as /v1/themes lists it
let busy = false;
let suggested = [];    // the colours the picture machine chose for the last drawing: {x, y, r, colour}

// ---- drawing: every stroke is kept as points, so undo is "drop the last stroke and redraw" ----
// Colour and lines live on two layers, colour under lines, so colouring over a line never covers it; #pad shows
// white paper, colour, lines composited. What is sent is the two apart: the lines on white paper, and the colour
// layer alone (transparent where there is none), so every crayon, black and brown included, arrives as colour
// and never as a line. Crayons are opaque, so their colour arrives exactly.

function layer() {
  const canvas = document.createElement("canvas");
  canvas.width = pad.width;
  canvas.height = pad.height;
  return canvas.getContext("2d");
}

const colourLayer = layer();
const lineLayer = layer();

function layersOf(stroke) {
  if (stroke.tool === "eraser") return [colourLayer, lineLayer];
  return [stroke.tool === "crayon" ? colourLayer : lineLayer];
}

function strokeStyle(ctx, stroke) {
  // the eraser cuts holes in a layer (the paper shows through); pen and crayon paint on top of it
  ctx.globalCompositeOperation = stroke.tool === "eraser" ? "destination-out" : "source-over";
  ctx.strokeStyle = ctx.fillStyle = stroke.tool === "crayon" ? stroke.colour : PEN_COLOUR;
  ctx.lineWidth = stroke.width;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
}

function drawSegment(stroke, from, to) {
  for (const ctx of layersOf(stroke)) {
    strokeStyle(ctx, stroke);
    ctx.beginPath();
    ctx.moveTo(from[0], from[1]);
    ctx.lineTo(to[0], to[1]);
    ctx.stroke();
  }
}

function drawDots(ctx, dots, alpha) {
  // kept colours (one stroke of many crayon dabs) and suggested ones (faint, on the overlay)
  ctx.globalCompositeOperation = "source-over";
  ctx.globalAlpha = alpha;
  for (const dot of dots) {
    ctx.fillStyle = dot.colour;
    ctx.beginPath();
    ctx.arc(dot.x, dot.y, dot.r, 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.globalAlpha = 1;
}

function drawStroke(stroke) {
  if (stroke.dots) { drawDots(colourLayer, stroke.dots, 1); return; }
  const pts = stroke.points;
  for (const ctx of layersOf(stroke)) {
    strokeStyle(ctx, stroke);
    ctx.beginPath();
    if (pts.length === 1) {
      ctx.arc(pts[0][0], pts[0][1], stroke.width / 2, 0, 2 * Math.PI);
      ctx.fill();
      continue;
    }
    ctx.moveTo(pts[0][0], pts[0][1]);
    for (const p of pts.slice(1)) ctx.lineTo(p[0], p[1]);
    ctx.stroke();
  }
}

function show() {
  view.fillStyle = "#ffffff";
  view.fillRect(0, 0, pad.width, pad.height);
  view.drawImage(colourLayer.canvas, 0, 0);
  view.drawImage(lineLayer.canvas, 0, 0);
}

function redraw() {
  for (const ctx of [colourLayer, lineLayer]) {
    ctx.globalCompositeOperation = "source-over";
    ctx.clearRect(0, 0, pad.width, pad.height);
  }
  drawing.strokes.forEach(drawStroke);
  show();
}

function padPoint(clientX, clientY) {
  // the drawing surface is the canvas's content box: inside its border
  const box = pad.getBoundingClientRect();
  return [(clientX - box.left - pad.clientLeft) * pad.width / pad.clientWidth,
          (clientY - box.top - pad.clientTop) * pad.height / pad.clientHeight];
}

function startStroke(x, y) {
  const tool = drawing.tool;
  const width = tool === "crayon" ? drawing.crayonWidth : tool === "eraser" ? drawing.width * 3 : drawing.width;
  drawing.current = { tool, colour: drawing.colour, width, points: [padPoint(x, y)] };
  drawing.strokes.push(drawing.current);
  drawStroke(drawing.current);
  show();
}

function extendStroke(moves) {
  const stroke = drawing.current;
  if (!stroke) return;
  for (const [x, y] of moves) {
    const p = padPoint(x, y);
    drawSegment(stroke, stroke.points[stroke.points.length - 1], p);
    stroke.points.push(p);
  }
  show();
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
    const moves = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [];
    extendStroke((moves.length ? moves : [ev]).map((m) => [m.clientX, m.clientY]));
  });
  ["pointerup", "pointercancel", "lostpointercapture"].forEach((name) => pad.addEventListener(name, endStroke));
} else {  // older tablets: touch events
  pad.addEventListener("touchstart", (ev) => { ev.preventDefault(); const t = ev.touches[0]; startStroke(t.clientX, t.clientY); });
  pad.addEventListener("touchmove", (ev) => { ev.preventDefault(); const t = ev.touches[0]; extendStroke([[t.clientX, t.clientY]]); });
  pad.addEventListener("touchend", endStroke);
  pad.addEventListener("mousedown", (ev) => startStroke(ev.clientX, ev.clientY));
  pad.addEventListener("mousemove", (ev) => extendStroke([[ev.clientX, ev.clientY]]));
  window.addEventListener("mouseup", endStroke);
}

// ---- tools: pen, crayon and eraser; the crayon box's black is the pen, its colours are crayons ----

function press(button, on) {
  button.classList.toggle("chosen", on);
  button.setAttribute("aria-pressed", on);
}

function choose(group, button) {
  group.forEach((b) => press(b, b === button));
}

const toolButtons = ["pen", "crayon", "eraser"].map((id) => document.getElementById(id));
const swatches = Array.from(document.querySelectorAll("#crayons .swatch"));
swatches.forEach((b) => { b.style.background = b.dataset.colour; });

function useTool(tool, colour) {
  drawing.tool = tool;
  if (colour) drawing.colour = colour;
  choose(toolButtons, document.getElementById(tool));
  document.getElementById("crayon").style.setProperty("--crayon", drawing.colour);
  // while erasing, no swatch is in use
  swatches.forEach((b) => press(b, tool === "pen" ? b.dataset.colour === PEN_COLOUR
                                                  : tool === "crayon" && b.dataset.colour === drawing.colour));
}

toolButtons.forEach((b) => b.addEventListener("click", () => useTool(b.id)));
swatches.forEach((b) => b.addEventListener("click", () => {
  if (b.dataset.colour === PEN_COLOUR) useTool("pen");
  else useTool("crayon", b.dataset.colour);
}));

const sizeButtons = Array.from(document.querySelectorAll(".size"));
sizeButtons.forEach((b) => b.addEventListener("click", () => {
  drawing.width = Number(b.dataset.width);
  drawing.crayonWidth = Number(b.dataset.crayon);
  choose(sizeButtons, b);
}));

document.getElementById("undo").addEventListener("click", () => { drawing.strokes.pop(); redraw(); });
document.getElementById("clear").addEventListener("click", () => { drawing.strokes = []; suggest([]); redraw(); });

// ---- the colours the picture machine chose: faint dots until the child keeps them ----

const DOT = 12;   // the smallest suggested dot, in canvas pixels, big enough to see (a kept dab keeps its size,
                 // which the server fitted inside its part)

function suggest(marks) {
  suggested = marks;
  suggestedView.clearRect(0, 0, pad.width, pad.height);
  const dots = marks.map((m) => ({ ...m, r: Math.max(m.r, DOT) }));
  drawDots(suggestedView, dots, 0.45);
  suggestedView.setLineDash([6, 6]);   // a dashed ring: only a suggestion, not yet part of the drawing
  suggestedView.lineWidth = 3;
  for (const dot of dots) {
    suggestedView.strokeStyle = dot.colour;
    suggestedView.beginPath();
    suggestedView.arc(dot.x, dot.y, dot.r + 3, 0, 2 * Math.PI);
    suggestedView.stroke();
  }
  keepButton.hidden = marks.length === 0;
}

function readMarks(header) {
  // X-Colours: [{"x", "y", "r", "colour": "#rrggbb"}] in the posted drawing's pixels, which are the pad's
  let marks;
  try { marks = JSON.parse(header || "[]"); } catch (err) { console.error(err); return []; }
  if (!Array.isArray(marks)) return [];
  return marks.filter((m) => m && /^#[0-9a-f]{6}$/i.test(m.colour) && [m.x, m.y, m.r].every(Number.isFinite))
    .map((m) => ({ x: m.x, y: m.y, r: Math.max(m.r, 3), colour: m.colour }));
}

keepButton.addEventListener("click", () => {
  if (!suggested.length) return;
  // one crayon stroke of dabs: undo takes them back together, crayons and the eraser change them like any colour
  drawing.strokes.push({ tool: "crayon", dots: suggested });
  suggest([]);
  redraw();
  say("Your colours! Change them if you like.");
});

// ---- themes and pictures ----

function say(text, oops) {
  message.textContent = text;
  message.classList.toggle("oops", Boolean(oops));
}

function setBusy(on) {
  busy = on;
  makeButton.disabled = on || !theme;
  keepButton.disabled = on;
  againButton.disabled = on || !result.getAttribute("src");
  document.querySelector(".frame").classList.toggle("busy", on);
}

const KEY = "icanvas-key";

async function api(url, options = {}) {
  // a service with keys answers 401: ask for the key once and keep it in this tab (sessionStorage)
  for (;;) {
    const key = sessionStorage.getItem(KEY);
    const answer = await fetch(url, { ...options, headers: key ? { Authorization: `Bearer ${key}` } : {} });
    if (answer.status !== 401) return answer;
    const typed = window.prompt(key ? "That key did not work. The picture machine's key:" : "The picture machine's key:");
    if (!typed || !typed.trim()) return answer;
    sessionStorage.setItem(KEY, typed.trim());
  }
}

async function loadThemes() {
  const nav = document.getElementById("themes");
  try {
    const answer = await api("/v1/themes");
    if (!answer.ok) throw new Error(`themes: HTTP ${answer.status}`);
    const { themes } = await answer.json();
    const buttons = themes.map((t) => {
      const b = document.createElement("button");
      b.className = "theme";
      b.textContent = t.title;
      b.dataset.theme = t.name;
      b.addEventListener("click", () => { theme = t; choose(buttons, b); showAgain(); });
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

function showAgain() {
  // a model that colours line drawings gives new colours; another gives another picture
  const colours = Boolean(theme && theme.colours);
  againButton.textContent = colours ? "\u{1F3A8} New colours" : "\u{1F3B2} Another one";
  againButton.setAttribute("aria-label", colours ? "New colours" : "Another picture");
}

function blob(canvas) {
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}

function sketchBlob() {
  // the lines alone, on white paper
  const paper = layer();
  paper.fillStyle = "#ffffff";
  paper.fillRect(0, 0, pad.width, pad.height);
  paper.drawImage(lineLayer.canvas, 0, 0);
  return blob(paper.canvas);
}

async function makePicture(variation) {
  if (busy || !theme) return;
  // lines, colour or both: the service reads each
  if (!drawing.strokes.some((s) => s.tool !== "eraser")) { say("Draw something first!", true); return; }
  setBusy(true);
  say("Making it...");
  try {
    const form = new FormData();
    form.append("sketch", await sketchBlob(), "drawing.png");
    form.append("crayons", await blob(colourLayer.canvas), "crayons.png");
    form.append("theme", theme.name);
    if (variation !== null) form.append("variation", String(variation));
    // the theme in the URL too: a busy service says so before the drawing is uploaded
    const answer = await api(`/v1/generate?theme=${encodeURIComponent(theme.name)}`, { method: "POST", body: form });
    if (!answer.ok) {
      const problem = await answer.json().catch(() => ({ detail: `HTTP ${answer.status}` }));
      throw new Error(answer.status === 503 || answer.status === 429 ? "busy" : problem.detail);
    }
    const old = result.getAttribute("src");
    result.src = URL.createObjectURL(await answer.blob());
    if (old) URL.revokeObjectURL(old);
    suggest(readMarks(answer.headers.get("X-Colours")));
    say("Ta-da!");
  } catch (err) {
    say(err.message === "busy" ? "Lots of drawings right now. Try again!" : "Oops! Try again.", true);
    console.error(err);
  }
  setBusy(false);
}

makeButton.addEventListener("click", () => makePicture(null));
againButton.addEventListener("click", () => makePicture(Math.floor(Math.random() * 2147483647)));

useTool("pen");
showAgain();
redraw();
loadThemes();
