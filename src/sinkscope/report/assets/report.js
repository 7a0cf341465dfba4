(function () {
"use strict";
var t0 = performance.now();
var NS = "http://www.w3.org/2000/svg";
function $(s, r) { return (r || document).querySelector(s); }
var D = JSON.parse($("#ss-data").textContent);
var NOATT = {}; (D.no_attention_layers || []).forEach(function (l) { NOATT[l] = true; });  // docs/method.md §11
var NOATT_TXT = "no attention probabilities";
var KC = D.kind_colours;
var tip = $("#ss-tip");
var state = { prompt: 0, view: "mean", scale: "log", x0: 0, x1: 1, sel: null, allCols: false, sort: {}, geo: null, drag: null };
var matCache = {}, blobCache = {};

function hexLut(s) { var a = new Uint8ClampedArray(s.length / 2); for (var i = 0; i < a.length; i++) a[i] = parseInt(s.substr(2 * i, 2), 16); return a; }
var LUT = hexLut(D.lut), LUTC = hexLut(D.lut_counts);
function rgb(lut, k) { k = Math.max(0, Math.min(255, k | 0)) * 3; return "rgb(" + lut[k] + "," + lut[k + 1] + "," + lut[k + 2] + ")"; }

// ---- formatting ----
function esc(s) { return String(s).replace(/[&<>"']/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]; }); }
function fmt(v, d) {
  d = d || 3;
  if (v === null || v === undefined) return "–";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v !== "number") return String(v);
  if (!isFinite(v)) return "–";
  var a = Math.abs(v);
  if (Number.isInteger(v)) return a >= 10000 ? v.toLocaleString("en-US") : String(v);
  if (a >= 1000) return Math.round(v).toLocaleString("en-US");
  if (a !== 0 && a < 1e-3) return v.toExponential(2);
  return String(Number(v.toPrecision(d)));
}
function fmtTick(v) {
  var a = Math.abs(v);
  if (a === 0) return "0";
  if (a >= 1e6) return String(Number((v / 1e6).toPrecision(3))) + "M";
  if (a >= 1e4) return String(Number((v / 1e3).toPrecision(3))) + "k";
  if (a < 1e-3) { var e = Math.floor(Math.log10(a)); var m = v / Math.pow(10, e); return (Math.abs(m - 1) < 1e-9 ? "" : Number(m.toPrecision(2)) + "×") + "1e" + e; }
  return String(Number(v.toPrecision(4)));
}
function quoteTok(t) { if (/^ +$/.test(t)) t = t.replace(/ /g, "\u2423"); return "\u201c" + t.replace(/\n/g, "\\n").replace(/\t/g, "\\t").replace(/\r/g, "\\r") + "\u201d"; }
function visText(t) { return t.replace(/\r/g, "").replace(/\n/g, "\u21b5\n"); }
function sinkText(t) { return /^\s+$/.test(t) ? t.replace(/\r/g, "").replace(/ /g, "\u2423").replace(/\t/g, "\u21e5").replace(/\n/g, "\u21b5\n") : visText(t); }
function chip(label) { return '<span class="chip" style="background:' + (KC[label] || "#888") + '">' + esc(label) + "</span>"; }

// ---- tooltip ----
function showTip(h, ev) { tip.innerHTML = h; tip.hidden = false; moveTip(ev); }
function moveTip(ev) {
  var pad = 14, x = ev.clientX + pad, y = ev.clientY + pad, w = tip.offsetWidth, h = tip.offsetHeight;
  if (x + w > window.innerWidth - 6) x = Math.max(6, ev.clientX - w - pad);
  if (y + h > window.innerHeight - 6) y = Math.max(6, ev.clientY - h - pad);
  tip.style.left = x + "px"; tip.style.top = y + "px";
}
function hideTip() { tip.hidden = true; }
document.addEventListener("mouseover", function (ev) {
  var el = ev.target.closest ? ev.target.closest("[data-tip]") : null;
  if (el) showTip(el.getAttribute("data-tip"), ev);
});
document.addEventListener("mouseout", function (ev) {
  var el = ev.target.closest ? ev.target.closest("[data-tip]") : null;
  if (el && !(ev.relatedTarget && el.contains(ev.relatedTarget))) hideTip();
});
document.addEventListener("mousemove", function (ev) { if (!tip.hidden && ev.target.closest && ev.target.closest("[data-tip]")) moveTip(ev); });

// ---- data ----
function P() { return D.prompts[state.prompt]; }
function bytes(id) {
  if (blobCache[id]) return blobCache[id];
  var s = atob(document.getElementById(id).textContent.trim()), n = s.length, u = new Uint8Array(n);
  for (var i = 0; i < n; i++) u[i] = s.charCodeAt(i);
  return (blobCache[id] = u);
}
var POW2 = new Float64Array(32); for (var e = 0; e < 32; e++) POW2[e] = Math.pow(2, e - 15);
function f16(u) {
  var n = u.length >> 1, out = new Float32Array(n);
  for (var i = 0; i < n; i++) {
    var h = u[2 * i] | (u[2 * i + 1] << 8), ex = (h >> 10) & 31, fr = h & 1023, v;
    v = ex === 0 ? fr * 5.960464477539063e-8 : ex === 31 ? (fr ? NaN : Infinity) : POW2[ex] * (1 + fr / 1024);
    out[i] = (h & 0x8000) ? -v : v;
  }
  return out;
}
function logTable(lo) { var t = new Float32Array(256); for (var q = 1; q < 256; q++) t[q] = Math.pow(10, lo + (q - 1) / 254 * -lo); return t; }
function mat(view) {
  var key = state.prompt + ":" + view;
  if (matCache[key]) return matCache[key];
  var hm = P().heat, L = hm.L, m;
  if (view === "mean" || view === "ratio") {
    var b = hm[view]; m = { L: L, n: b.n, bin: b.bin, v: f16(bytes(b.id)) };
  } else {
    var bh = hm.heads, u = bytes(bh.id), H = hm.H, n = bh.n, VAL = logTable(bh.log_lo), v = new Float32Array(L * n);
    for (var l = 0; l < L; l++) for (var c = 0; c < n; c++) {
      var best = 0;
      if (view === "max") { for (var h = 0; h < H; h++) { var x = VAL[u[(l * H + h) * n + c]]; if (x > best) best = x; } }
      else best = VAL[u[(l * H + (+view.slice(1))) * n + c]];
      v[l * n + c] = best;
    }
    m = { L: L, n: n, bin: bh.bin, v: v };
  }
  m.range = autoRange(m, hm.clip_from);
  return (matCache[key] = m);
}
function autoRange(m, clip) {
  var lim = Math.max(1, Math.min(m.n, Math.floor(clip / m.bin))), vals = [], vmax = 0;
  var stride = Math.max(1, Math.floor(m.L * lim / 60000));
  for (var l = 0; l < m.L; l++) for (var c = 0; c < lim; c++) {
    var x = m.v[l * m.n + c];
    if (x > vmax) vmax = x;
    if (x > 0 && ((l * lim + c) % stride === 0)) vals.push(x);
  }
  vals.sort(function (a, b) { return a - b; });
  if (!(vmax > 0)) vmax = 1;
  var med = vals.length ? vals[vals.length >> 1] : vmax / 100;
  var vmin = Math.max(med, vmax * 1e-4);
  if (!(vmin < vmax)) vmin = vmax / 10;
  return { vmin: vmin, vmax: vmax, l0: Math.log10(vmin), l1: Math.log10(vmax) };
}
function cidx(v, r, log) {
  if (!(v > 0)) return 0;
  var t = log ? (Math.log10(v) - r.l0) / (r.l1 - r.l0) : v / r.vmax;
  return t <= 0 ? 0 : t >= 1 ? 255 : (t * 255) | 0;
}
function prep(p) {
  if (p._recAt) return;
  var R = p.records, ci = {};
  R.columns.forEach(function (c, i) { ci[c] = i; });
  p._ci = ci; p._recAt = {};
  R.rows.forEach(function (row, r) { p._recAt[row[ci.position]] = r; });
}
function recVal(p, r, key) { var i = p._ci[key]; return i === undefined ? null : p.records.rows[r][i]; }

// ---- the sink table's glossary: every column's header and description (the column registry) ----
function initGlossary() {
  var el = $("#ss-glossary");
  if (!el) return;
  el.innerHTML = "<summary>columns</summary><dl>" + D.columns.map(function (c) {
    return "<dt>" + esc(c.label) + "</dt><dd>" + esc(c.title) + "</dd>";
  }).join("") + "</dl>";
}

// ---- prompt picker, info, legends ----
function initPicker() {
  var sel = $("#ss-prompt");
  if (D.prompts.length < 2) { $("#ss-picker").hidden = true; return; }
  sel.innerHTML = D.prompts.map(function (p, i) {
    var nsec = p.records.labels.filter(function (k) { return k === "secondary"; }).length;
    return '<option value="' + i + '">' + i + " · " + esc(p.source) + " · " + p.n_tokens + " tokens · " + nsec + " secondary</option>";
  }).join("");
  sel.addEventListener("change", function () { selectPrompt(+sel.value); });
}
function countKinds(p) { var c = {}; p.records.labels.forEach(function (k) { c[k] = (c[k] || 0) + 1; }); return c; }
function renderInfo() {
  var p = P(), w = p.window;
  $("#ss-info").innerHTML = "Prompt " + p.index + " · " + esc(p.source) + " · " + p.n_tokens.toLocaleString("en-US") + " tokens · primary sink at position " + p.p +
    " <code>" + esc(quoteTok(p.tokens[p.p] || "")) + "</code> · primary window: layers " + w[0] + "–" + (w[1] - 1);
  var c = countKinds(p);
  var leg = D.kind_order.map(function (k) { return '<span><span class="sw" style="background:' + KC[k] + '"></span>' + k + " (" + (c[k] || 0) + ")</span>"; }).join("");
  $("#ss-legend").innerHTML = leg;
  $("#ss-kinds").innerHTML = leg;
}

// ---- token strip ----
function renderTokens() {
  var p = P(), out = new Array(p.tokens.length), labels = p.records.labels;
  for (var i = 0; i < p.tokens.length; i++) {
    var t = p.tokens[i], r = p._recAt[i];
    if (r === undefined) out[i] = '<span data-i="' + i + '">' + esc(visText(t)) + "</span>";
    else out[i] = '<span data-i="' + i + '" class="tk k-' + labels[r] + (/^\s+$/.test(t) ? " ws" : "") + '">' + esc(sinkText(t)) + "</span>";
  }
  var strip = $("#ss-strip");
  strip.innerHTML = out.join("");
  strip.scrollTop = 0;
}
function colMax(i) {
  var m = mat("mean"), c = Math.floor(i / m.bin), best = -1, bl = 0;
  for (var l = 0; l < m.L; l++) { var v = m.v[l * m.n + c]; if (v > best) { best = v; bl = l; } }
  return { v: best, l: bl };
}
function tokenTip(i) {
  var p = P(), r = p._recAt[i], h = '<div class="th"><code>' + esc(quoteTok(p.tokens[i])) + '</code> <span class="muted">position ' + i + "</span></div>";
  if (r === undefined) {
    var mm = colMax(i);
    h += '<div class="muted">not sink-like in any layer</div><table><tr><td>kind</td><td>none</td></tr><tr><td>max layer score</td><td>' + fmt(mm.v) + " (layer " + mm.l + ")</td></tr></table>";
    return h;
  }
  var g = function (k) { return recVal(p, r, k); };
  h += "<div>" + chip(p.records.labels[r]) + (g("anti_aligned") ? ' <span class="muted">anti-aligned</span>' : "") + "</div><table>";
  // the rows: the columns the registry marks `hover` (sinkscope.analysis.columns), with their headers
  D.columns.forEach(function (c) {
    var v = c.hover ? g(c.key) : null;
    if (v !== null) h += '<tr><td title="' + esc(c.title) + '">' + esc(c.label) + "</td><td>" + fmt(v) + "</td></tr>";
  });
  h += "</table>";
  return h;
}
function initStrip() {
  var strip = $("#ss-strip");
  strip.addEventListener("mouseover", function (ev) { var el = ev.target.closest("[data-i]"); if (el) showTip(tokenTip(+el.getAttribute("data-i")), ev); });
  strip.addEventListener("mousemove", function (ev) { if (!tip.hidden) moveTip(ev); });
  strip.addEventListener("mouseleave", hideTip);
  strip.addEventListener("click", function (ev) { var el = ev.target.closest("[data-i]"); if (el) select(+el.getAttribute("data-i"), "strip"); });
}
function select(pos, from) {
  state.sel = pos;
  var strip = $("#ss-strip"), prev = strip.querySelector(".selected");
  if (prev) prev.classList.remove("selected");
  var el = strip.querySelector('[data-i="' + pos + '"]');
  if (el) {
    el.classList.add("selected");
    if (from !== "strip") strip.scrollTop = Math.max(0, el.offsetTop - strip.offsetTop - strip.clientHeight / 2);
  }
  if (pos < state.x0 || pos >= state.x1) { var w = state.x1 - state.x0; state.x0 = Math.max(0, Math.min(P().n_tokens - w, pos - (w >> 1))); state.x1 = state.x0 + w; }
  drawHeat();
  markRow();
}

// ---- heatmap ----
function niceTicks(a, b, n) {
  var span = b - a; if (!(span > 0)) return [a];
  var s0 = span / n, mag = Math.pow(10, Math.floor(Math.log10(s0))), e = s0 / mag;
  var step = (e >= 7.5 ? 10 : e >= 3.5 ? 5 : e >= 1.5 ? 2 : 1) * mag, out = [];
  for (var v = Math.ceil(a / step - 1e-9) * step; v <= b + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}
function intTicks(a, b, n) { return niceTicks(a, b, n).filter(function (v) { return Number.isInteger(v); }); }
function initHeat() {
  var p = D.prompts[0], sel = $("#ss-view"), H = p.heat.H, opts = [["mean", "score, mean over heads"], ["ratio", "score ÷ position-matched baseline"], ["max", "score, max over heads"]];
  for (var h = 0; h < H; h++) opts.push(["h" + h, "score, head " + h]);
  sel.innerHTML = opts.map(function (o) { return '<option value="' + o[0] + '">' + o[1] + "</option>"; }).join("");
  sel.addEventListener("change", function () { state.view = sel.value; drawHeat(); });
  $("#ss-scale").addEventListener("change", function () { state.scale = $("#ss-scale").value; drawHeat(); });
  $("#ss-reset").addEventListener("click", function () { state.x0 = 0; state.x1 = P().n_tokens; drawHeat(); });
  $("#ss-zoomout").addEventListener("click", function () {
    var T = P().n_tokens, w = Math.min(T, (state.x1 - state.x0) * 2), c = (state.x0 + state.x1) / 2;
    state.x0 = Math.max(0, Math.min(T - w, Math.round(c - w / 2))); state.x1 = state.x0 + w; drawHeat();
  });
  var cv = $("#ss-heat"), selDiv = $("#ss-heat-sel");
  function local(ev) { var r = cv.getBoundingClientRect(); return { x: ev.clientX - r.left, y: ev.clientY - r.top }; }
  function inPlot(q) { var g = state.geo.g; return q.x >= g.l && q.x < g.l + g.w && q.y >= g.t && q.y < g.t + g.h; }
  function posAt(x) { var g = state.geo.g; return Math.max(state.x0, Math.min(state.x1 - 1, state.x0 + Math.floor((x - g.l) / g.w * (state.x1 - state.x0)))); }
  function hit(q) {
    var G = state.geo, g = G.g, m = G.m, L = m.L;
    var c = Math.max(0, Math.min(G.nc - 1, Math.floor((q.x - g.l) / g.w * G.nc)));
    var l = Math.max(0, Math.min(L - 1, L - 1 - Math.floor((q.y - g.t) / g.h * L)));
    var a = G.colA[c], b = Math.max(G.colA[c + 1], a + 1), s0 = Math.floor(a / m.bin), s1 = Math.floor((b - 1) / m.bin), best = -1, bs = s0;
    for (var s = s0; s <= s1; s++) { var v = m.v[l * m.n + s]; if (v > best) { best = v; bs = s; } }
    var pa = Math.max(a, bs * m.bin), pb = Math.min(b, (bs + 1) * m.bin);
    return { l: l, v: best, pa: pa, pb: pb };
  }
  cv.addEventListener("mousemove", function (ev) {
    if (!state.geo) return;
    var q = local(ev), g = state.geo.g;
    if (state.drag) {
      var xa = Math.max(g.l, Math.min(state.drag.x, q.x)), xb = Math.min(g.l + g.w, Math.max(state.drag.x, q.x));
      selDiv.hidden = false; selDiv.style.left = (cv.offsetLeft + xa) + "px"; selDiv.style.width = (xb - xa) + "px";
      selDiv.style.top = (cv.offsetTop + g.t) + "px"; selDiv.style.height = g.h + "px";
      hideTip(); return;
    }
    if (!inPlot(q)) { hideTip(); return; }
    var h = hit(q), p = P(), vname = state.view === "ratio" ? "score ÷ baseline" : "score";
    var where = h.pb - h.pa > 1 ? "positions " + h.pa + "–" + (h.pb - 1) + " (max)" : "position " + h.pa + " <code>" + esc(quoteTok(p.tokens[h.pa] || "")) + "</code>";
    var r = h.pb - h.pa === 1 ? p._recAt[h.pa] : undefined;
    if (NOATT[h.l]) { showTip('<div class="th">layer ' + h.l + "</div>" + NOATT_TXT + " (non-softmax mixer)", ev); return; }
    showTip('<div class="th">layer ' + h.l + " · " + where + "</div><table><tr><td>" + vname + "</td><td>" + fmt(h.v) + (state.view[0] === "h" || state.view === "max" ? " (≈, 8-bit)" : "") +
      "</td></tr><tr><td>view</td><td>" + esc($("#ss-view").selectedOptions[0].textContent) + "</td></tr>" +
      (r !== undefined ? "<tr><td>record</td><td>" + chip(p.records.labels[r]) + " birth " + fmt(recVal(p, r, "birth")) + ", lifetime " + fmt(recVal(p, r, "lifetime")) + "</td></tr>" : "") + "</table>", ev);
  });
  cv.addEventListener("mouseleave", function () { hideTip(); });
  cv.addEventListener("mousedown", function (ev) { if (ev.button !== 0 || !state.geo) return; var q = local(ev); if (inPlot(q)) { state.drag = { x: q.x }; ev.preventDefault(); } });
  window.addEventListener("mouseup", function (ev) {
    if (!state.drag) return;
    var q = local(ev), x0 = state.drag.x; state.drag = null; selDiv.hidden = true;
    if (Math.abs(q.x - x0) < 4) { if (inPlot(q)) { var h = hit(q); if (h.pb - h.pa === 1) select(h.pa, "heat"); else select(posAt(q.x), "heat"); } return; }
    var a = posAt(Math.min(x0, q.x)), b = posAt(Math.max(x0, q.x)) + 1;
    if (b - a >= 2) { state.x0 = a; state.x1 = b; drawHeat(); }
  });
  cv.addEventListener("dblclick", function () { state.x0 = 0; state.x1 = P().n_tokens; drawHeat(); });
  var pending = false;
  window.addEventListener("resize", function () { if (pending) return; pending = true; requestAnimationFrame(function () { pending = false; drawHeat(); }); });
}
function drawHeat() {
  var p = P(), m = mat(state.view), L = m.L, T = p.n_tokens, log = state.scale === "log", r = m.range;
  var wrap = $("#ss-heat-wrap"), cv = $("#ss-heat");
  var W = Math.max(360, wrap.clientWidth - 10), H = Math.max(220, Math.min(520, 70 + L * 12));
  var dpr = window.devicePixelRatio || 1;
  cv.width = Math.round(W * dpr); cv.height = Math.round(H * dpr); cv.style.width = W + "px"; cv.style.height = H + "px";
  var ctx = cv.getContext("2d"); ctx.setTransform(dpr, 0, 0, dpr, 0, 0); ctx.clearRect(0, 0, W, H);
  var g = { l: 48, r: 12, t: 20, b: 40 }; g.w = W - g.l - g.r; g.h = H - g.t - g.b;
  var x0 = state.x0, x1 = state.x1, span = x1 - x0;
  var nc = Math.max(1, Math.min(span, Math.round(g.w * dpr))), colA = new Int32Array(nc + 1);
  for (var c = 0; c <= nc; c++) colA[c] = x0 + Math.floor(c * span / nc);
  var img = ctx.createImageData(nc, L), d = img.data;
  for (c = 0; c < nc; c++) {
    var a = colA[c], b = Math.max(colA[c + 1], a + 1), s0 = Math.floor(a / m.bin), s1 = Math.floor((b - 1) / m.bin);
    for (var l = 0; l < L; l++) {
      var best = 0, row = l * m.n;
      for (var s = s0; s <= s1; s++) { var v = m.v[row + s]; if (v > best) best = v; }
      var k = cidx(best, r, log) * 3, o = ((L - 1 - l) * nc + c) * 4;
      d[o] = LUT[k]; d[o + 1] = LUT[k + 1]; d[o + 2] = LUT[k + 2]; d[o + 3] = 255;
    }
  }
  var off = document.createElement("canvas"); off.width = nc; off.height = L; off.getContext("2d").putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false; ctx.drawImage(off, g.l, g.t, g.w, g.h);
  if (L === D.n_layers) Object.keys(NOATT).forEach(function (k) {  // hatched grey rows: no attention probabilities
    var l = +k, ya = g.t + (L - 1 - l) / L * g.h, hh = g.h / L;
    ctx.fillStyle = "#e4e4e4"; ctx.fillRect(g.l, ya, g.w, hh);
    ctx.save(); ctx.beginPath(); ctx.rect(g.l, ya, g.w, hh); ctx.clip(); ctx.strokeStyle = "#9a9a9a"; ctx.lineWidth = 1;
    for (var xh = g.l - hh; xh < g.l + g.w; xh += 6) { ctx.beginPath(); ctx.moveTo(xh, ya + hh); ctx.lineTo(xh + hh, ya); ctx.stroke(); }
    ctx.restore();
    if (hh >= 9) { ctx.fillStyle = "#555"; ctx.font = Math.min(11, hh - 1) + "px sans-serif"; ctx.textAlign = "left"; ctx.textBaseline = "middle"; ctx.fillText(NOATT_TXT, g.l + 4, ya + hh / 2); }
  });
  ctx.strokeStyle = "#c9ced6"; ctx.lineWidth = 1; ctx.strokeRect(g.l - 0.5, g.t - 0.5, g.w + 1, g.h + 1);
  // axes
  ctx.fillStyle = "#3b4452"; ctx.strokeStyle = "#7a8391"; ctx.font = "11px system-ui, -apple-system, 'Segoe UI', Roboto, 'Liberation Sans', Arial, sans-serif";
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  var xt = intTicks(x0, x1 - 1, Math.max(2, Math.floor(g.w / 90)));
  xt.forEach(function (j) { var x = g.l + (j - x0 + 0.5) / span * g.w; ctx.beginPath(); ctx.moveTo(x, g.t + g.h); ctx.lineTo(x, g.t + g.h + 4); ctx.stroke(); ctx.fillText(String(j), x, g.t + g.h + 6); });
  ctx.textAlign = "right"; ctx.textBaseline = "middle";
  intTicks(0, L - 1, Math.max(2, Math.floor(g.h / 40))).forEach(function (l) { var y = g.t + (L - 1 - l + 0.5) / L * g.h; ctx.beginPath(); ctx.moveTo(g.l - 4, y); ctx.lineTo(g.l, y); ctx.stroke(); ctx.fillText(String(l), g.l - 6, y); });
  ctx.fillStyle = "#1b2230"; ctx.textAlign = "center"; ctx.textBaseline = "bottom"; ctx.font = "12px system-ui, -apple-system, 'Segoe UI', Roboto, 'Liberation Sans', Arial, sans-serif";
  ctx.fillText("token position", g.l + g.w / 2, H - 2);
  ctx.save(); ctx.translate(13, g.t + g.h / 2); ctx.rotate(-Math.PI / 2); ctx.textBaseline = "middle"; ctx.fillText("layer", 0, 0); ctx.restore();
  // sink track
  var labels = p.records.labels, order = ["noise", "unclassified", "primary-like", "secondary", "primary"];
  order.forEach(function (kind) {
    ctx.fillStyle = KC[kind];
    p.records.rows.forEach(function (row, ri) {
      if (labels[ri] !== kind) return;
      var pos = row[p._ci.position]; if (pos < x0 || pos >= x1) return;
      var x = g.l + (pos - x0 + 0.5) / span * g.w;
      ctx.beginPath(); ctx.moveTo(x - 4, g.t - 11); ctx.lineTo(x + 4, g.t - 11); ctx.lineTo(x, g.t - 3); ctx.closePath(); ctx.fill();
    });
  });
  if (state.sel !== null && state.sel >= x0 && state.sel < x1) {
    var xs = g.l + (state.sel - x0 + 0.5) / span * g.w;
    ctx.strokeStyle = "#0b6bcb"; ctx.setLineDash([4, 3]); ctx.lineWidth = 1.2; ctx.beginPath(); ctx.moveTo(xs, g.t); ctx.lineTo(xs, g.t + g.h); ctx.stroke(); ctx.setLineDash([]);
  }
  state.geo = { g: g, nc: nc, colA: colA, m: m };
  $("#ss-range").textContent = span === T ? "all " + T.toLocaleString("en-US") + " positions" : "positions " + x0 + "–" + (x1 - 1) + " of " + T.toLocaleString("en-US");
  drawCbar(r, log);
  $("#ss-cbar-label").textContent = state.view === "ratio" ? "× baseline" : "score";
  var pp = span / nc;
  $("#ss-heat-cap").innerHTML = (state.view === "ratio" ? "Layer score s<sub>j</sub><sup>l</sup> divided by the position-matched baseline of non-sink keys (docs/method.md §3): the position effect removed, sinks stand out at any depth of the text. " :
    "Sink score s<sub>j</sub><sup>l</sup>: the mean attention key j receives from the queries that can see it (docs/method.md §1)" + (state.view === "mean" ? ", averaged over heads. " : state.view === "max" ? ", the largest over heads. " : ", head " + state.view.slice(1) + ". ")) +
    "Colour: " + (log ? "log scale from the median key to the largest score" : "linear from 0 to the largest score") +
    (p.heat.clip_from < T ? " among positions before " + p.heat.clip_from + " (the last keys are seen by fewer than " + D.config.min_queries + " queries and would saturate it)" : "") + ". " +
    (pp > 1.001 ? "Each pixel column shows the maximum over ~" + fmt(pp, 2) + " positions. " : "") + (m.bin > 1 ? "Stored at " + m.bin + " positions per column (max-pooled) to keep the file small. " : "") +
    "Drag across the heatmap to zoom, double-click to show all positions, click to mark a token. Triangles: sink records.";
}
function drawCbar(r, log) {
  var cv = $("#ss-cbar"), dpr = window.devicePixelRatio || 1, W = 260, H = 34;
  cv.width = W * dpr; cv.height = H * dpr; cv.style.width = W + "px"; cv.style.height = H + "px";
  var ctx = cv.getContext("2d"); ctx.setTransform(dpr, 0, 0, dpr, 0, 0); ctx.clearRect(0, 0, W, H);
  var x0 = 8, w = W - 16;
  for (var i = 0; i < w; i++) { ctx.fillStyle = rgb(LUT, i / (w - 1) * 255); ctx.fillRect(x0 + i, 2, 1.2, 11); }
  ctx.strokeStyle = "#c9ced6"; ctx.strokeRect(x0 - 0.5, 1.5, w + 1, 12);
  var ticks = [];
  if (log) {
    for (var e = Math.ceil(r.l0 - 1e-9); e <= Math.floor(r.l1 + 1e-9); e++) ticks.push(Math.pow(10, e));
    if (ticks.length < 3) { var more = []; for (var e2 = Math.floor(r.l0); e2 <= Math.ceil(r.l1); e2++) [2, 5].forEach(function (m) { var v = m * Math.pow(10, e2); if (v >= r.vmin && v <= r.vmax) more.push(v); }); ticks = ticks.concat(more).sort(function (a, b) { return a - b; }); }
  } else ticks = niceTicks(0, r.vmax, 4);
  ctx.fillStyle = "#3b4452"; ctx.strokeStyle = "#7a8391"; ctx.font = "10.5px system-ui, -apple-system, 'Segoe UI', Roboto, 'Liberation Sans', Arial, sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "top";
  var lastX = -99;
  ticks.forEach(function (v) {
    var t = log ? (Math.log10(v) - r.l0) / (r.l1 - r.l0) : v / r.vmax; if (t < -1e-9 || t > 1 + 1e-9) return;
    var x = x0 + t * w; ctx.beginPath(); ctx.moveTo(x, 13); ctx.lineTo(x, 17); ctx.stroke();
    if (x - lastX > 34) { ctx.fillText(fmtTick(v), Math.max(12, Math.min(W - 12, x)), 19); lastX = x; }
  });
}

// ---- tables ----
function renderTable(el, cols, rows, opts) {
  opts = opts || {};
  var id = opts.id, st = state.sort[id] || { c: null, dir: 1 };
  var idx = rows.map(function (_, i) { return i; });
  if (st.c !== null) {
    var c = st.c;
    idx.sort(function (a, b) {
      var x = rows[a][c], y = rows[b][c];
      if (x === null || x === undefined) return (y === null || y === undefined) ? a - b : 1;
      if (y === null || y === undefined) return -1;
      if (typeof x === "number" && typeof y === "number") return x === y ? a - b : (x - y) * st.dir;
      x = String(x); y = String(y); return x === y ? a - b : (x < y ? -1 : 1) * st.dir;
    });
  }
  var show = cols.map(function (c, i) { return i; }).filter(function (i) { return !cols[i].hidden; });
  var h = '<table class="data"><thead><tr>' + show.map(function (i) {
    var c = cols[i], left = c.left ? ' class="l"' : "";
    return "<th" + left + ' data-c="' + i + '" title="' + esc(c.title || c.label) + ' (click to sort)">' + esc(c.label) + (st.c === i ? '<span class="ar">' + (st.dir > 0 ? "▲" : "▼") + "</span>" : "") + "</th>";
  }).join("") + "</tr></thead><tbody>";
  var parts = [];
  for (var k = 0; k < idx.length; k++) {
    var ri = idx[k], row = rows[ri];
    parts.push('<tr data-r="' + ri + '"' + (opts.rowClass ? ' class="' + opts.rowClass(ri) + '"' : "") + ">" + show.map(function (i) {
      var c = cols[i], v = row[i], cell = c.render ? c.render(v, ri) : esc(fmt(v));
      return "<td" + (c.left ? ' class="l' + (c.cls ? " " + c.cls : "") + '"' : "") + ">" + cell + "</td>";
    }).join("") + "</tr>");
  }
  el.innerHTML = h + parts.join("") + "</tbody></table>";
  el.querySelector("thead").addEventListener("click", function (ev) {
    var th = ev.target.closest("th"); if (!th) return;
    var c = +th.getAttribute("data-c"), cur = state.sort[id] || { c: null, dir: 1 };
    state.sort[id] = { c: c, dir: cur.c === c ? -cur.dir : (cols[c].num === false ? 1 : -1) };
    renderTable(el, cols, rows, opts);
  });
  if (opts.onRow) el.querySelector("tbody").addEventListener("click", function (ev) { var tr = ev.target.closest("tr"); if (tr) opts.onRow(+tr.getAttribute("data-r")); });
}
function renderSinks() {
  var p = P(), R = p.records, meta = {};
  D.columns.forEach(function (c) { meta[c.key] = c; });
  var cols = R.columns.map(function (key) {
    var m = meta[key] || { label: key, title: key, shown: false };
    var c = { key: key, label: m.label, title: m.title, hidden: !(m.shown || state.allCols), num: !(key === "token" || key === "kind") };
    if (key === "token") { c.left = true; c.cls = "tok"; c.render = function (v) { return "<code>" + esc(quoteTok(String(v))) + "</code>"; }; }
    if (key === "kind") { c.left = true; c.render = function (v, ri) { return chip(R.labels[ri]); }; }
    return c;
  });
  var el = $("#ss-table");
  if (!R.rows.length) { el.innerHTML = '<div class="empty">No sink records in this prompt.</div>'; return; }
  renderTable(el, cols, R.rows, { id: "sinks", rowClass: function (ri) { return R.rows[ri][p._ci.position] === state.sel ? "sel" : ""; }, onRow: function (ri) { select(R.rows[ri][p._ci.position], "table"); } });
}
function markRow() {
  var p = P(), el = $("#ss-table");
  el.querySelectorAll("tr.sel").forEach(function (tr) { tr.classList.remove("sel"); });
  var r = state.sel === null ? undefined : p._recAt[state.sel];
  if (r !== undefined) { var tr = el.querySelector('tr[data-r="' + r + '"]'); if (tr) { tr.classList.add("sel"); var top = tr.offsetTop - el.clientHeight / 2; el.scrollTop = Math.max(0, top); } }
}

// ---- svg charts ----
function sv(tag, attrs, parent) { var e = document.createElementNS(NS, tag); for (var k in attrs) e.setAttribute(k, attrs[k]); if (parent) parent.appendChild(e); return e; }
function lin(d0, d1, r0, r1) { var f = function (v) { return r0 + (v - d0) / ((d1 - d0) || 1) * (r1 - r0); }; f.ticks = function (n) { return niceTicks(d0, d1, n); }; return f; }
function logs(d0, d1, r0, r1) {
  var a = Math.log10(d0), b = Math.log10(d1);
  var f = function (v) { return r0 + (Math.log10(Math.max(v, 1e-300)) - a) / ((b - a) || 1) * (r1 - r0); };
  f.ticks = function () {
    var out = [], span = b - a, subs = span < 1.2 ? [1, 2, 3, 5, 7] : span < 2 ? [1, 2, 5] : [1];
    for (var e = Math.floor(a); e <= Math.ceil(b); e++) subs.forEach(function (s) { var v = s * Math.pow(10, e); if (v >= d0 * 0.999 && v <= d1 * 1.001) out.push(v); });
    if (span >= 7) out = out.filter(function (v, i) { return i % 2 === 0; });
    return out;
  };
  f.log = true; return f;
}
function axis(svg, box, X, Y, o) {
  var gx = sv("g", { "font-size": 11, fill: "#3b4452" }, svg);
  (o.yt || Y.ticks(5)).forEach(function (v) {
    var y = Y(v); if (y < box.t - 0.5 || y > box.t + box.h + 0.5) return;
    sv("line", { x1: box.l, x2: box.l + box.w, y1: y, y2: y, stroke: "#edf0f4" }, gx);
    var t = sv("text", { x: box.l - 6, y: y + 3.5, "text-anchor": "end" }, gx); t.textContent = o.yfmt ? o.yfmt(v) : fmtTick(v);
  });
  (o.xt || X.ticks(6)).forEach(function (v) {
    var x = X(v); if (x < box.l - 0.5 || x > box.l + box.w + 0.5) return;
    sv("line", { x1: x, x2: x, y1: box.t + box.h, y2: box.t + box.h + 4, stroke: "#8b94a1" }, gx);
    if (!o.noxl) { var t = sv("text", { x: x, y: box.t + box.h + 16, "text-anchor": "middle" }, gx); t.textContent = o.xfmt ? o.xfmt(v) : fmtTick(v); }
  });
  sv("line", { x1: box.l, x2: box.l + box.w, y1: box.t + box.h, y2: box.t + box.h, stroke: "#8b94a1" }, gx);
  sv("line", { x1: box.l, x2: box.l, y1: box.t, y2: box.t + box.h, stroke: "#8b94a1" }, gx);
  if (o.xl) { var tx = sv("text", { x: box.l + box.w / 2, y: box.t + box.h + 34, "text-anchor": "middle", "font-size": 12, fill: "#1b2230" }, gx); tx.textContent = o.xl; }
  if (o.yl) { var ty = sv("text", { transform: "translate(" + (box.l - (o.ylOff || 44)) + "," + (box.t + box.h / 2) + ") rotate(-90)", "text-anchor": "middle", "font-size": 12, fill: "#1b2230" }, gx); ty.textContent = o.yl; }
}
function path(pts) { return pts.map(function (q, i) { return (i ? "L" : "M") + q[0].toFixed(1) + "," + q[1].toFixed(1); }).join(""); }
function legendHtml(items) { return items.map(function (it) { return "<span>" + (it.line ? '<span class="ln' + (it.dash ? " dash" : "") + '" style="border-color:' + it.c + '"></span>' : '<span class="sw" style="background:' + it.c + '"></span>') + esc(it.t) + "</span>"; }).join(""); }

function renderWeak() {
  var p = P(), Ld = p.layers, el = $("#ss-weak");
  el.innerHTML = "";
  if (!Ld || !Ld.layer || !Ld.layer.length) { el.innerHTML = '<div class="empty">No per-layer table.</div>'; return; }
  var n = Ld.layer.length, W = 780, Hh = 486, A = { l: 62, t: 10, w: 690, h: 230 }, S = { l: 62, t: 252, w: 690, h: 44 }, B = { l: 62, t: 322, w: 690, h: 120 };
  var svg = sv("svg", { viewBox: "0 0 " + W + " " + Hh, role: "img", "aria-label": "primary-sink weakening" }, el);
  var X = lin(-0.5, n - 0.5, A.l, A.l + A.w);
  var ymax = 1; ["primary_score", "primary_head_fraction", "secondary_mass"].forEach(function (k) { (Ld[k] || []).forEach(function (v) { if (v > ymax) ymax = v; }); });
  var Y = lin(0, ymax * 1.1, A.t + A.h, A.t);
  var norms = (Ld.primary_norm || []).filter(function (v) { return v > 0; });
  var nmin = Math.min.apply(null, norms.length ? norms : [1]), nmax = Math.max.apply(null, norms.length ? norms : [10]);
  if (nmax / nmin < 10) { nmin /= 2; nmax *= 2; }
  var YN = logs(nmin / 1.3, nmax * 1.3, B.t + B.h, B.t);
  // window band
  var win = []; (Ld.in_window || []).forEach(function (w, l) { if (w) win.push(l); });
  if (win.length) {
    var xa = X(win[0] - 0.5), xb = X(win[win.length - 1] + 0.5);
    [A, S, B].forEach(function (bx) { sv("rect", { x: xa, y: bx.t, width: xb - xa, height: bx.h, fill: "#eef4fa" }, svg); });
    var wt = sv("text", { x: xa + 5, y: A.t + 12, "font-size": 10.5, fill: "#5b7083" }, svg); wt.textContent = "primary window";
  }
  Object.keys(NOATT).forEach(function (k) {  // hatched grey columns: no attention probabilities (docs/method.md §11)
    [A, S, B].forEach(function (bx) { sv("rect", { x: X(+k - 0.5), y: bx.t, width: X(+k + 0.5) - X(+k - 0.5), height: bx.h, fill: "url(#ss-hatch)" }, svg); });
  });
  if (Object.keys(NOATT).length) {
    var pat = sv("pattern", { id: "ss-hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" }, sv("defs", {}, svg));
    sv("rect", { width: 6, height: 6, fill: "#e4e4e4" }, pat); sv("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#9a9a9a", "stroke-width": 1.5 }, pat);
  }
  axis(svg, A, X, Y, { yl: "score / fraction", xt: intTicks(0, n - 1, 12), noxl: true });
  axis(svg, B, X, YN, { yl: "‖h_p‖ (log)", xl: "layer", xt: intTicks(0, n - 1, 12), xfmt: String });
  // births strip
  var births = Ld.births || [], bmax = Math.max.apply(null, births.concat([0]));
  sv("line", { x1: S.l, x2: S.l + S.w, y1: S.t + S.h, y2: S.t + S.h, stroke: "#8b94a1" }, svg);
  var bl = sv("text", { x: S.l - 8, y: S.t + S.h - 4, "text-anchor": "end", "font-size": 11, fill: "#8a5a00" }, svg); bl.textContent = "births";
  births.forEach(function (b, l) {
    if (!b) return;
    var x = X(l), bw = Math.max(4, Math.min(14, (X(1) - X(0)) * 0.7));
    sv("line", { x1: x, x2: x, y1: A.t, y2: A.t + A.h, stroke: KC.secondary, "stroke-dasharray": "2,3", "stroke-width": 1.2 }, svg);
    var bh = 4 + (S.h - 18) * b / bmax;
    sv("rect", { x: x - bw / 2, y: S.t + S.h - bh, width: bw, height: bh, fill: KC.secondary, rx: 1.5 }, svg);
    var t = sv("text", { x: x, y: S.t + S.h - bh - 3, "text-anchor": "middle", "font-size": 10, fill: "#8a5a00" }, svg); t.textContent = b;
  });
  function line(key, col, dash, box, S, w) {
    var v = Ld[key]; if (!v) return;
    var pts = []; v.forEach(function (y, l) { if (y !== null && (!S.log || y > 0)) pts.push([X(l), S(y)]); });
    var a = { d: path(pts), fill: "none", stroke: col, "stroke-width": w || 2, "stroke-linejoin": "round" }; if (dash) a["stroke-dasharray"] = "5,4";
    sv("path", a, svg);
    if (!dash) pts.forEach(function (q) { sv("circle", { cx: q[0], cy: q[1], r: 2.4, fill: col }, svg); });
  }
  line("secondary_mass", KC.secondary, false, A, Y, 2);
  line("primary_head_fraction", KC["primary-like"], true, A, Y, 1.6);
  line("primary_score", KC.primary, false, A, Y, 2.2);
  line("primary_norm", "#2b3442", false, B, YN, 1.8);
  var wk = p.weakening;
  if (wk && wk.dip_layer !== null && wk.dip_layer !== undefined && wk.dip_ratio !== null) {
    var dx = X(wk.dip_layer), dy = Y(wk.dip_score);
    sv("circle", { cx: dx, cy: dy, r: 6, fill: "none", stroke: "#1b2230", "stroke-width": 1.2 }, svg);
    var dt = sv("text", { x: dx + 10, y: dy + 4, "font-size": 10.5, fill: "#1b2230", "paint-order": "stroke", stroke: "#fff", "stroke-width": 3 }, svg); dt.textContent = "dip: " + fmt(wk.dip_ratio, 2) + "× plateau";
  }
  // hover columns
  for (var l = 0; l < n; l++) {
    var tipTxt = '<div class="th">layer ' + l + (Ld.in_window && Ld.in_window[l] ? ' <span class="muted">(in primary window)</span>' : "") + (NOATT[l] ? ' <span class="muted">(' + NOATT_TXT + ")</span>" : "") + "</div><table>" +
      "<tr><td>primary score</td><td>" + fmt(Ld.primary_score[l]) + "</td></tr>" + "<tr><td>head fraction</td><td>" + fmt(Ld.primary_head_fraction[l]) + "</td></tr>" +
      "<tr><td>‖h_p‖</td><td>" + fmt(Ld.primary_norm[l]) + "</td></tr>" + "<tr><td>secondary mass</td><td>" + fmt(Ld.secondary_mass[l]) + "</td></tr>" +
      "<tr><td>secondaries alive</td><td>" + fmt(Ld.n_secondary_alive ? Ld.n_secondary_alive[l] : null) + "</td></tr>" + "<tr><td>births</td><td>" + fmt(births[l]) + "</td></tr></table>";
    sv("rect", { x: X(l - 0.5), y: A.t, width: X(l + 0.5) - X(l - 0.5), height: B.t + B.h - A.t, fill: "transparent", "data-tip": tipTxt, class: "hov" }, svg);
  }
  var wtxt = "";
  if (wk) {
    wtxt = wk.dip_layer !== null && wk.dip_ratio !== null ? "The primary's score peaks at " + fmt(wk.plateau) + " (layer " + wk.plateau_layer + ") and dips to " + fmt(wk.dip_score) + " at layer " + wk.dip_layer + " (" + fmt(wk.dip_ratio, 2) + "× plateau; " + (wk.weakened ? "weakened" : "not below " + fmt(wk.weak_frac) + "× plateau") + ")" : (wk.reason || "");
    if (wk.n_births) wtxt += ". " + fmt(wk.n_births) + " secondary birth" + (wk.n_births === 1 ? "" : "s") + (wk.coincides_with_births !== null ? ", " + Math.round(100 * wk.coincides_with_births) + "% of them within ±1 layer of a weakened layer" : "");
    wtxt += ".";
  }
  $("#ss-weak-cap").textContent = "Per layer for this prompt (docs/method.md §6): the primary sink's score s_p, the share of heads where it exceeds ε = " + D.config.eps + ", the score held by secondary sinks, and the primary's residual norm; bars and dotted lines: secondary births. " + wtxt;
  $("#ss-weak-legend").innerHTML = legendHtml([{ c: KC.primary, t: "primary score s_p", line: 1 }, { c: KC["primary-like"], t: "head fraction F_p(ε)", line: 1, dash: 1 }, { c: KC.secondary, t: "secondary mass", line: 1 }, { c: "#2b3442", t: "primary norm ‖h_p‖ (log)", line: 1 }, { c: KC.secondary, t: "secondary births" }].concat(Object.keys(NOATT).length ? [{ c: "#cfcfcf", t: NOATT_TXT + " (hatched layers)" }] : []));
}

function corrText(c, slope) {
  if (!c || c.spearman === null) return '<span class="muted">' + esc((c && c.reason) || "not enough secondary sinks") + "</span>";
  var ci = function (a) { return a && a[0] !== null ? ' <span class="muted">[' + a[0].toFixed(2) + ", " + a[1].toFixed(2) + "]</span>" : ""; };
  return "Spearman ρ = <b>" + c.spearman.toFixed(2) + "</b>" + ci(c.spearman_ci) + " · Pearson r = <b>" + c.pearson.toFixed(2) + "</b>" + ci(c.pearson_ci) + " · n = " + c.n + (slope !== null && slope !== undefined ? " · log-log slope " + fmt(slope, 2) : "");
}
function renderNorm() {
  var S = D.secondary, ci = {}; S.columns.forEach(function (c, i) { ci[c] = i; });
  var nl = D.norm_law;
  $("#ss-nl-score-txt").innerHTML = corrText(nl.score, nl.fit_score_curve ? nl.fit_score_curve.loglog_slope : null);
  $("#ss-nl-life-txt").innerHTML = corrText(nl.lifetime, null);
  scatter($("#ss-nl-score"), S, ci, "mean_score", "mean score over lifetime", nl.fit_score_curve, true);
  scatter($("#ss-nl-life"), S, ci, "lifetime", "lifetime (layers)", nl.fit_lifetime_curve, false);
}
function scatter(el, S, ci, ykey, ylab, fit, ylog) {
  el.innerHTML = "";
  var pts = S.rows.filter(function (r) { return r[ci.mlp_norm] > 0 && r[ci[ykey]] !== null && (!ylog || r[ci[ykey]] > 0); });
  if (!pts.length) { el.innerHTML = '<div class="empty">No secondary sinks in this run: nothing to plot.</div>'; return; }
  var W = 440, H = 320, box = { l: 64, t: 12, w: 360, h: 250 };
  var svg = sv("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "norm law: " + ylab }, el);
  var xs = pts.map(function (r) { return r[ci.mlp_norm]; }), ys = pts.map(function (r) { return r[ci[ykey]]; });
  var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs), y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
  if (x1 / x0 < 3) { var gm = Math.sqrt(x0 * x1); x0 = Math.min(x0, gm / 1.8); x1 = Math.max(x1, gm * 1.8); }
  var X = logs(x0 / 1.2, x1 * 1.2, box.l, box.l + box.w), Y;
  if (ylog) { if (y1 / y0 < 3) { var gy = Math.sqrt(y0 * y1); y0 = Math.min(y0, gy / 1.8); y1 = Math.max(y1, gy * 1.8); } Y = logs(y0 / 1.25, y1 * 1.25, box.t + box.h, box.t); }
  else { var pad = Math.max(1, (y1 - y0) * 0.08); Y = lin(Math.max(0, y0 - pad), y1 + pad, box.t + box.h, box.t); }
  axis(svg, box, X, Y, { xl: "MLP output norm at birth ‖m‖", yl: ylab, ylOff: 48, yt: ylog ? undefined : intTicks(Math.max(0, y0 - 1), y1 + 1, 6) });
  if (fit && fit.x && fit.x.length > 1) {
    var q = [];
    for (var i = 0; i < fit.x.length; i++) { if (i) q.push([X(fit.x[i]), Y(Math.max(fit.y[i - 1], ylog ? 1e-12 : -1e300))]); q.push([X(fit.x[i]), Y(Math.max(fit.y[i], ylog ? 1e-12 : -1e300))]); }
    sv("path", { d: path(q), fill: "none", stroke: "#2b3442", "stroke-width": 1.6, opacity: 0.85 }, svg);
  }
  var multi = D.prompts.length > 1;
  var order = pts.slice().sort(function (a, b) { return (a[ci.prompt] === state.prompt) - (b[ci.prompt] === state.prompt); });
  order.forEach(function (r) {
    var mine = !multi || r[ci.prompt] === state.prompt;
    var t = '<div class="th"><code>' + esc(quoteTok(String(r[ci.token]))) + '</code> <span class="muted">prompt ' + r[ci.prompt] + ", position " + r[ci.position] + "</span></div><table><tr><td>‖m‖ at birth</td><td>" + fmt(r[ci.mlp_norm]) + "</td></tr><tr><td>mean score</td><td>" + fmt(r[ci.mean_score]) + "</td></tr><tr><td>lifetime</td><td>" + fmt(r[ci.lifetime]) + "</td></tr><tr><td>birth</td><td>layer " + fmt(r[ci.birth]) + "</td></tr></table>";
    sv("circle", { cx: X(r[ci.mlp_norm]), cy: Y(r[ci[ykey]]), r: mine ? 4.6 : 3.6, fill: mine ? KC.secondary : "#c4c9d1", stroke: mine ? "#8a5a00" : "#9aa3ae", "stroke-width": 0.8, "fill-opacity": mine ? 0.9 : 0.6, "data-tip": t }, svg);
  });
}

function renderLevels() {
  var lv = D.levels, el = $("#ss-levels"), C = lv.counts;
  el.innerHTML = "";
  if (!lv.n_sinks) { el.innerHTML = '<div class="empty">No secondary sinks in this run: no levels.</div>'; $("#ss-levels-table").innerHTML = ""; return; }
  var bmin = 1e9, bmax = -1, mmin = 1e9, mmax = -1, cmax = 0;
  C.forEach(function (row, b) { row.forEach(function (v, m) { if (v > 0) { bmin = Math.min(bmin, b); bmax = Math.max(bmax, b); mmin = Math.min(mmin, m); mmax = Math.max(mmax, m); cmax = Math.max(cmax, v); } }); });
  bmin = Math.max(0, bmin - 2); bmax = Math.min(C.length - 1, bmax + 2); mmin = Math.max(0, mmin - 2); mmax = Math.min(C[0].length - 1, mmax + 2);
  var W = 460, H = 360, box = { l: 56, t: 14, w: 380, h: 290 };
  var svg = sv("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "sink levels" }, el);
  var X = lin(bmin - 0.5, bmax + 0.5, box.l, box.l + box.w), Y = lin(mmin - 0.5, mmax + 0.5, box.t + box.h, box.t);
  sv("rect", { x: box.l, y: box.t, width: box.w, height: box.h, fill: "#fafbfc" }, svg);
  axis(svg, box, X, Y, { xl: "birth layer", yl: "lifetime (layers)", xt: intTicks(bmin, bmax, 10), yt: intTicks(mmin, mmax, 8), xfmt: String, yfmt: String });
  var cw = X(1) - X(0), ch = Y(0) - Y(1);
  for (var b = bmin; b <= bmax; b++) for (var m = mmin; m <= mmax; m++) {
    var v = C[b][m]; if (!v) continue;
    var k = 40 + 215 * Math.sqrt(v / cmax);
    sv("rect", { x: X(b - 0.5) + 0.5, y: Y(m + 0.5) + 0.5, width: cw - 1, height: ch - 1, fill: rgb(LUTC, k), rx: 2, "data-tip": '<div class="th">birth ' + b + " · lifetime " + m + "</div>" + v + " secondary sink" + (v === 1 ? "" : "s") }, svg);
    if (cw > 16 && ch > 13) { var t = sv("text", { x: X(b), y: Y(m) + 4, "text-anchor": "middle", "font-size": 10.5, fill: k > 170 ? "#fff" : "#2b1d00", "pointer-events": "none" }, svg); t.textContent = v; }
  }
  lv.levels.forEach(function (L, i) {
    var x = X(L.birth_range[0] - 0.5), y = Y(L.lifetime_range[1] + 0.5), w = X(L.birth_range[1] + 0.5) - x, h = Y(L.lifetime_range[0] - 0.5) - y;
    sv("rect", { x: x - 1.5, y: y - 1.5, width: w + 3, height: h + 3, fill: "none", stroke: KC.primary, "stroke-width": 1.6, "stroke-dasharray": "5,3", rx: 3, "pointer-events": "none" }, svg);
    var t = sv("text", { x: x + w + 5, y: y + 10, "font-size": 11, fill: KC.primary, "font-weight": 600 }, svg); t.textContent = "L" + i + " · " + Math.round(100 * L.share) + "%";
  });
  var cols = [{ label: "level", title: "level" }, { label: "births", title: "birth range" }, { label: "lifetimes", title: "lifetime range" }, { label: "sinks", title: "count" }, { label: "share", title: "share of secondary sinks" }, { label: "top tokens", title: "most common tokens", left: true, num: false }];
  var rows = lv.levels.map(function (L, i) { return ["L" + i, L.birth_range[0] + "–" + L.birth_range[1], L.lifetime_range[0] + "–" + L.lifetime_range[1], L.count, Math.round(1000 * L.share) / 10 + "%", L.top_tokens.map(function (t) { return quoteTok(String(t[0])) + "×" + t[1]; }).join(", ")]; });
  var tEl = $("#ss-levels-table");
  tEl.innerHTML = '<p class="stat">' + lv.n_levels + " level" + (lv.n_levels === 1 ? "" : "s") + " over " + lv.n_sinks + " secondary sinks (" + lv.n_clusters + " cluster" + (lv.n_clusters === 1 ? "" : "s") + "; min share " + fmt(lv.min_share) + ", tolerance ±" + lv.tol + " layer)</p><div class=\"tablewrap\"></div>";
  if (rows.length) renderTable(tEl.querySelector(".tablewrap"), cols, rows, { id: "levels" });
  else tEl.querySelector(".tablewrap").innerHTML = '<div class="empty">No cluster reaches the minimum share.</div>';
}

function renderExtra() {
  var host = $("#ss-extra"); if (!host) return;
  host.innerHTML = "";
  Object.keys(D.extra).forEach(function (name, ti) {
    var T = D.extra[name], pi = T.columns.indexOf("prompt");
    var rows = T.per_prompt && pi >= 0 && D.prompts.length > 1 ? T.rows.filter(function (r) { return r[pi] === state.prompt; }) : T.rows;
    var sec = document.createElement("div");
    sec.innerHTML = "<h3>" + esc(name) + '</h3><p class="cap">' + rows.length + " row" + (rows.length === 1 ? "" : "s") + (rows.length !== T.rows.length ? " of prompt " + state.prompt + " (" + T.n_total + " in all)" : "") + (T.truncated ? "; the file has " + T.n_total + " rows, the first " + T.rows.length + " are shown" : "") + '</p><div class="tablewrap"></div>';
    host.appendChild(sec);
    var cols = T.columns.map(function (c, ci) {
      var num = T.rows.every(function (r) { return r[ci] === null || typeof r[ci] === "number"; });
      var col = { label: c, title: c, left: !num, num: num };
      if (/(^|_)token(s)?($|_)/.test(c)) col.render = function (v) { return v === null ? "–" : "<code>" + esc(quoteTok(String(v))) + "</code>"; };
      return col;
    });
    if (T.columns.length === 2 && T.columns[0] === "key") sec.querySelector(".tablewrap").classList.add("kv");
    if (rows.length) renderTable(sec.querySelector(".tablewrap"), cols, rows, { id: "extra-" + ti });
    else sec.querySelector(".tablewrap").innerHTML = '<div class="empty">No rows for this prompt.</div>';
  });
}

function selectPrompt(i) {
  state.prompt = i; state.sel = null; state.x0 = 0; state.x1 = P().n_tokens; matCache = {}; blobCache = {};
  prep(P());
  renderInfo(); renderTokens(); drawHeat(); renderSinks(); renderWeak(); renderNorm(); renderExtra();
}

try {
  initGlossary();
  initPicker(); initStrip(); initHeat();
  $("#ss-allcols").addEventListener("change", function () { state.allCols = this.checked; renderSinks(); markRow(); });
  selectPrompt(0);
  renderLevels();
  window.sinkscopeReport = { renderMs: performance.now() - t0, readyAt: performance.now(), prompts: D.prompts.length, select: select, selectPrompt: selectPrompt };
  document.documentElement.setAttribute("data-ready", "1");
} catch (err) {
  var box = $("#ss-error"); box.hidden = false; box.textContent = "The report could not be drawn: " + err;
  throw err;
}
})();
