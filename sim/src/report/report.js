// sim report: draws the run embedded as JSON in #report-data on two canvases (a sticky
// time axis and the lanes), with zoom, pan, filters and tooltips. No libraries, no
// network. Every panel shares one view [t0, t1] of simulated time in microseconds.
(function () {
  'use strict';
  const started = performance.now();
  const D = JSON.parse(document.getElementById('report-data').textContent);

  // Layout constants (CSS pixels).
  const LABEL_W = 128, SECTION_H = 20, LANE_H = 24, GROUP_H = 18, JOIN_H = 26;
  const SUB_H = 7, KEY_PAD = 2, MAX_SUBS = 6, AXIS_H = 26;
  // Above this many messages in view, draw per-pixel counts instead of arrows.
  const ARROW_LIMIT = 1500;
  const MARK_LINE_LIMIT = 400;
  const BUCKET_PX = 3;
  const END = Math.max(D.meta.end, 1);
  const MIN_SPAN = 20; // µs
  const PROTO = ['client', 'ECS', 'peer', 'other'];
  const PROTO_COLOR = ['#1f77b4', '#d6336c', '#6b7689', '#999999'];
  const OUTCOME = ['ok', 'failed', 'unknown'];
  const OUTCOME_COLOR = ['#2e9d57', '#d93025', '#e8a317'];
  const STEP_COLOR = {
    register: '#9aa3b2', next_addr: '#74c0fc', write_lock: '#f03e3e', group_members: '#a5d8ff',
    transfer_range: '#4dabf7', ecs_put: '#1c7ed6', done: '#37b24d', announce: '#b197fc',
    release_lock: '#fd7e14', abort_join: '#868e96'
  };

  const axis = document.getElementById('axis');
  const lanes = document.getElementById('lanes');
  const timeline = document.getElementById('timeline');
  const tip = document.getElementById('tip');
  const detail = document.getElementById('detail');
  const info = document.getElementById('view-info');
  const actx = axis.getContext('2d');
  const ctx = lanes.getContext('2d');

  let view = { t0: 0, t1: END };
  const filter = { proto: [true, true, true, true], host: -1 };
  let W = 800, H = 100, dpr = 1;
  let hover = null; // what the mouse is over, for highlighting
  let cursorT = null;

  // ---- data, indexed ------------------------------------------------------------------
  const hosts = D.hosts;
  const msgs = D.msgs; // [sent, received|-1, from, to, protocol, line]
  const ops = D.ops; // [key, process, client, invoked, completed, outcome, text]
  const spansByLane = hosts.map(() => []);
  for (const s of D.spans) spansByLane[s[0]].push(s); // [lane, kind, from, to, text]
  const marksByLane = hosts.map(() => []);
  const globalMarks = [];
  for (const m of D.marks) (m[1] >= 0 ? marksByLane[m[1]] : globalMarks).push(m);
  const groups = [];
  for (const h of hosts) if (h.group > 0 && groups.indexOf(h.group) < 0) groups.push(h.group);
  const leadersByGroup = {};
  const leadersByLane = hosts.map(() => []);
  for (const l of D.leaders) { // [group, lane, term, first, last]
    (leadersByGroup[l[0]] = leadersByGroup[l[0]] || []).push(l);
    leadersByLane[l[1]].push(l);
  }
  const locksByJoin = {};
  const groupLocks = {};
  for (const l of D.locks) { // [group, lane, join|-1, from, to, released]
    if (l[2] >= 0) (locksByJoin[l[2]] = locksByJoin[l[2]] || []).push(l);
    else (groupLocks[l[0]] = groupLocks[l[0]] || []).push(l);
  }
  const badOps = new Set();
  const badKeys = new Set();
  const keyIndex = {};
  D.keys.forEach((k, i) => { keyIndex[k] = i; });
  for (const v of D.violations) {
    for (const i of v.ops) badOps.add(i);
    badKeys.add(keyIndex[v.key]);
  }
  // Per key: its operations by invocation, packed into sub-rows so overlapping ones
  // (several lanes or clients on one key) do not hide each other.
  const perKey = D.keys.map(() => ({ ops: [], sub: [], subs: 1, maxDur: 0 }));
  ops.forEach((o, i) => perKey[o[0]].ops.push(i));
  for (const k of perKey) {
    k.ops.sort((a, b) => ops[a][3] - ops[b][3] || a - b);
    const ends = [];
    for (const i of k.ops) {
      const o = ops[i];
      let s = ends.findIndex((e) => e <= o[3]);
      if (s < 0) s = ends.length < MAX_SUBS ? ends.length : MAX_SUBS - 1;
      ends[s] = Math.max(ends[s] || 0, o[4]);
      k.sub.push(s);
      k.maxDur = Math.max(k.maxDur, o[4] - o[3]);
    }
    k.subs = Math.max(1, ends.length);
    k.starts = k.ops.map((i) => ops[i][3]);
  }
  const msgStarts = msgs.map((m) => m[0]);
  const markStarts = D.marks.map((m) => m[0]);
  let maxFlight = 0;
  for (const m of msgs) if (m[1] >= 0) maxFlight = Math.max(maxFlight, m[1] - m[0]);

  // ---- rows -----------------------------------------------------------------------------
  const rows = [];
  let y = 0;
  const laneY = [];
  function section(label) { rows.push({ type: 'section', y, h: SECTION_H, label }); y += SECTION_H; }
  section('hosts: down, cut off, held; leader marked; messages as arrows');
  const hostTop = y;
  hosts.forEach((h, i) => {
    rows.push({ type: 'host', y, h: LANE_H, label: h.name, lane: i });
    laneY[i] = y + LANE_H / 2;
    y += LANE_H;
  });
  const hostBottom = y;
  if (groups.length) {
    section('groups: leader and term (from the frames only a leader sends)');
    for (const g of groups) { rows.push({ type: 'group', y, h: GROUP_H, label: 'group ' + g, group: g }); y += GROUP_H; }
  }
  if (D.joins.length) {
    section('joins: ECS protocol steps, and the write lock held');
    for (const j of D.joins) {
      const who = j.newcomer >= 0 ? hosts[j.newcomer].name : '?';
      rows.push({ type: 'join', y, h: JOIN_H, label: 'join ' + j.join + ' (' + who + ')', join: j });
      y += JOIN_H;
    }
  }
  const keyOrder = D.keys.map((_, i) => i);
  const isShared = (k) => !/^c\d+-/.test(D.keys[k]);
  keyOrder.sort((a, b) => (badKeys.has(b) - badKeys.has(a)) || (isShared(b) - isShared(a)) || a - b);
  section('operations by key (' + ops.length + '): ok, failed, unknown; violations outlined');
  const keyRow = {};
  for (const k of keyOrder) {
    const h = Math.max(12, perKey[k].subs * SUB_H + KEY_PAD * 2);
    keyRow[k] = rows.length;
    rows.push({ type: 'key', y, h, label: D.keys[k], key: k });
    y += h;
  }
  H = y + 4;

  // ---- coordinates ------------------------------------------------------------------------
  const span = () => view.t1 - view.t0;
  const x = (t) => LABEL_W + (t - view.t0) / span() * (W - LABEL_W);
  const tAt = (px) => view.t0 + (px - LABEL_W) / (W - LABEL_W) * span();
  function lowerBound(arr, v) {
    let lo = 0, hi = arr.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (arr[mid] < v) lo = mid + 1; else hi = mid; }
    return lo;
  }
  function fmt(t) {
    const s = t / 1e6;
    const digits = span() < 2e4 ? 6 : span() < 2e6 ? 4 : 3;
    return s.toFixed(digits) + 's';
  }
  function dur(d) { return d >= 1e6 ? (d / 1e6).toFixed(3) + ' s' : (d / 1e3).toFixed(d < 1e4 ? 2 : 1) + ' ms'; }
  const shown = (m) => filter.proto[m[4]] && (filter.host < 0 || m[2] === filter.host || m[3] === filter.host);

  // ---- drawing ----------------------------------------------------------------------------
  function resize() {
    dpr = window.devicePixelRatio || 1;
    W = Math.max(400, timeline.clientWidth);
    // Browsers cap a canvas near 32k pixels a side.
    const scale = Math.min(dpr, 32000 / H);
    lanes.width = Math.floor(W * scale); lanes.height = Math.floor(H * scale);
    lanes.style.width = W + 'px'; lanes.style.height = H + 'px';
    ctx.setTransform(scale, 0, 0, scale, 0, 0);
    axis.width = Math.floor(W * dpr); axis.height = Math.floor(AXIS_H * dpr);
    axis.style.width = W + 'px'; axis.style.height = AXIS_H + 'px';
    actx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }

  function niceStep(raw) {
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
    return 10 * p;
  }

  function drawAxis() {
    actx.clearRect(0, 0, W, AXIS_H);
    actx.fillStyle = '#fff'; actx.fillRect(0, 0, W, AXIS_H);
    actx.strokeStyle = '#d0d5dd'; actx.beginPath(); actx.moveTo(0, AXIS_H - 0.5); actx.lineTo(W, AXIS_H - 0.5); actx.stroke();
    const step = niceStep(span() / Math.max(2, (W - LABEL_W) / 110));
    const digits = Math.max(0, -Math.floor(Math.log10(step / 1e6)));
    actx.fillStyle = '#344054'; actx.font = '11px system-ui, sans-serif'; actx.textBaseline = 'middle';
    actx.fillText('simulated time', 6, AXIS_H / 2);
    for (let t = Math.ceil(view.t0 / step) * step; t <= view.t1; t += step) {
      const px = x(t);
      actx.strokeStyle = '#98a2b3'; actx.beginPath(); actx.moveTo(px + 0.5, AXIS_H - 7); actx.lineTo(px + 0.5, AXIS_H); actx.stroke();
      actx.fillText((t / 1e6).toFixed(digits) + 's', px + 3, AXIS_H / 2 - 2);
    }
    if (cursorT !== null) {
      const px = x(cursorT);
      actx.fillStyle = '#1d2330';
      const label = fmt(cursorT);
      const w = actx.measureText(label).width + 8;
      actx.fillRect(px - w / 2, 2, w, AXIS_H - 6);
      actx.fillStyle = '#fff'; actx.fillText(label, px - w / 2 + 4, AXIS_H / 2 - 1);
    }
  }

  function rect(x0, x1, y0, h, color) {
    const a = Math.max(LABEL_W, x0), b = Math.min(W, x1);
    if (b < LABEL_W || a > W) return;
    ctx.fillStyle = color;
    ctx.fillRect(a, y0, Math.max(1, b - a), h);
  }
  function label(text, x0, x1, y0, color) {
    const a = Math.max(LABEL_W + 2, x0 + 3);
    const room = Math.min(W, x1) - a - 2;
    if (room < 18) return;
    ctx.fillStyle = color || '#1d2330';
    let s = text;
    while (s.length > 1 && ctx.measureText(s).width > room) s = s.slice(0, Math.max(1, Math.floor(s.length * room / ctx.measureText(s).width) - 1));
    ctx.fillText(s, a, y0);
  }
  const termColor = (term) => 'hsl(' + ((term * 67) % 360) + ',55%,62%)';

  function visibleY() {
    const r = lanes.getBoundingClientRect();
    return [Math.max(0, -r.top - 40), Math.min(H, window.innerHeight - r.top + 40)];
  }

  let stats = { arrows: 0, inView: 0, opsDrawn: 0 };
  let countBuf = null;
  function draw() {
    pending = false;
    const drawStarted = performance.now();
    const [vy0, vy1] = visibleY();
    ctx.clearRect(0, 0, W, H);
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    stats = { arrows: 0, inView: 0, opsDrawn: 0 };
    for (const r of rows) {
      if (r.y + r.h < vy0 || r.y > vy1) continue;
      drawRow(r);
    }
    if (hostBottom > vy0 && hostTop < vy1) drawMessages();
    drawFaultLines(vy0, vy1);
    if (cursorT !== null) {
      ctx.strokeStyle = 'rgba(29,35,48,0.35)'; ctx.beginPath();
      ctx.moveTo(x(cursorT) + 0.5, vy0); ctx.lineTo(x(cursorT) + 0.5, vy1); ctx.stroke();
    }
    drawAxis();
    updateInfo();
    document.documentElement.setAttribute('data-arrows', String(stats.arrows));
    document.documentElement.setAttribute('data-draw-ms', (performance.now() - drawStarted).toFixed(1));
  }

  function drawRow(r) {
    if (r.type === 'section') {
      ctx.fillStyle = '#eef0f4'; ctx.fillRect(0, r.y, W, r.h);
      ctx.fillStyle = '#344054'; ctx.font = 'bold 11px system-ui, sans-serif';
      ctx.fillText(r.label, 6, r.y + r.h / 2);
      ctx.font = '11px system-ui, sans-serif';
      return;
    }
    // Label column and a faint separator.
    if (r.type === 'key' && badKeys.has(r.key)) { ctx.fillStyle = '#fde7e6'; ctx.fillRect(0, r.y, W, r.h); }
    ctx.strokeStyle = '#eceef2'; ctx.beginPath(); ctx.moveTo(0, r.y + r.h - 0.5); ctx.lineTo(W, r.y + r.h - 0.5); ctx.stroke();
    ctx.fillStyle = '#1d2330';
    ctx.font = (r.type === 'key' ? '10px' : '11px') + ' ui-monospace, Menlo, monospace';
    ctx.fillText(r.label, 6, r.y + r.h / 2, LABEL_W - 10);
    ctx.font = '11px system-ui, sans-serif';
    if (r.type === 'host') drawHost(r);
    else if (r.type === 'group') drawGroup(r);
    else if (r.type === 'join') drawJoin(r);
    else if (r.type === 'key') drawKey(r);
  }

  function drawHost(r) {
    const i = r.lane;
    ctx.strokeStyle = '#d0d5dd'; ctx.beginPath();
    ctx.moveTo(LABEL_W, laneY[i] + 0.5); ctx.lineTo(W, laneY[i] + 0.5); ctx.stroke();
    for (const s of spansByLane[i]) {
      if (s[3] < view.t0 || s[2] > view.t1) continue;
      const a = x(s[2]), b = x(s[3]);
      if (s[1] === 'absent') { rect(a, b, r.y + 2, r.h - 4, '#eceef2'); label('not started', a, b, r.y + r.h / 2, '#667085'); }
      else if (s[1] === 'down') { rect(a, b, r.y + 2, r.h - 4, 'rgba(217,48,37,0.22)'); rect(a, b, r.y + 2, 2, '#d93025'); label('down', a, b, r.y + r.h / 2, '#a4211a'); }
      else if (s[1] === 'cut') rect(a, b, r.y + 1, 5, 'rgba(240,140,0,0.85)');
      else if (s[1] === 'held') rect(a, b, r.y + r.h - 6, 5, 'rgba(142,68,173,0.8)');
    }
    for (const l of leadersByLane[i]) {
      if (l[4] < view.t0 || l[3] > view.t1) continue;
      const a = x(l[3]), b = Math.max(x(l[4]), a + 2);
      rect(a, b, r.y + r.h - 9, 3, termColor(l[2]));
    }
    for (const m of marksByLane[i]) {
      if (m[0] < view.t0 || m[0] > view.t1) continue;
      const px = x(m[0]);
      ctx.fillStyle = '#d93025'; ctx.beginPath();
      ctx.moveTo(px - 4, r.y + 1); ctx.lineTo(px + 4, r.y + 1); ctx.lineTo(px, r.y + 7); ctx.closePath(); ctx.fill();
    }
  }

  function drawGroup(r) {
    if (!leadersByGroup[r.group]) label('no leader frames (a group of one, or none elected)', LABEL_W, W, r.y + r.h / 2, '#98a2b3');
    for (const l of leadersByGroup[r.group] || []) {
      if (l[4] < view.t0 || l[3] > view.t1) continue;
      const a = x(l[3]), b = Math.max(x(l[4]), a + 2);
      rect(a, b, r.y + 2, r.h - 4, termColor(l[2]));
      label(hosts[l[1]].name + ' t' + l[2], a, b, r.y + r.h / 2);
    }
    for (const l of groupLocks[r.group] || []) drawLock(l, r.y + r.h - 4);
  }

  function drawLock(l, y0) {
    if (l[4] < view.t0 || l[3] > view.t1) return;
    const a = x(l[3]), b = Math.max(x(l[4]), a + 2);
    rect(a, b, y0, 4, l[5] ? '#e03131' : '#7d1d1d');
  }

  function drawJoin(r) {
    for (const s of r.join.steps) { // [name, from, to, lines, lane]
      if (s[2] < view.t0 || s[1] > view.t1) continue;
      const a = x(s[1]), b = Math.max(x(s[2]), a + 2);
      rect(a, b, r.y + 2, 15, STEP_COLOR[s[0]] || '#adb5bd');
      label(s[0] + (s[3] > 1 ? ' x' + s[3] : ''), a, b, r.y + 10);
    }
    for (const l of locksByJoin[r.join.join] || []) {
      drawLock(l, r.y + 19);
      const a = x(l[3]), b = x(l[4]);
      if (b - a > 120) label('lock on group ' + l[0] + ' held ' + dur(l[4] - l[3]) + (l[5] ? '' : ' (never released)'), a, b, r.y + 21, '#7d1d1d');
    }
  }

  function drawKey(r) {
    const k = perKey[r.key];
    const from = lowerBound(k.starts, view.t0 - k.maxDur);
    const to = lowerBound(k.starts, view.t1 + 1);
    let lastBad = -1;
    for (let j = from; j < to; j++) {
      const i = k.ops[j], o = ops[i];
      if (o[4] < view.t0) continue;
      const y0 = r.y + KEY_PAD + k.sub[j] * SUB_H;
      const a = x(o[3]), b = Math.max(x(o[4]), a + 1);
      rect(a, b, y0, SUB_H - 1, OUTCOME_COLOR[o[5]]);
      stats.opsDrawn++;
      if (badOps.has(i)) {
        lastBad = Math.max(lastBad, b);
        ctx.strokeStyle = '#000'; ctx.lineWidth = 2;
        ctx.strokeRect(Math.max(LABEL_W, a) - 1, y0 - 1, Math.max(2, Math.min(W, b) - Math.max(LABEL_W, a)) + 2, SUB_H + 1);
        ctx.lineWidth = 1;
      }
      if (hover && hover.op === i) {
        ctx.strokeStyle = '#1d2330'; ctx.strokeRect(a - 0.5, y0 - 0.5, b - a + 1, SUB_H);
      }
    }
    if (lastBad >= 0) label('<- not linearizable: the checker\'s explanation is in the panel on the right', lastBad + 4, W, r.y + r.h / 2, '#a4211a');
  }

  function msgRange() {
    const lo = lowerBound(msgStarts, view.t0 - Math.min(maxFlight, span() * 4));
    const hi = lowerBound(msgStarts, view.t1 + 1);
    return [lo, hi];
  }

  function drawMessages() {
    const [lo, hi] = msgRange();
    let n = 0;
    for (let i = lo; i < hi; i++) {
      const m = msgs[i];
      if ((m[1] >= 0 ? m[1] : m[0]) < view.t0 || !shown(m)) continue;
      n++;
    }
    stats.inView = n;
    ctx.save();
    ctx.beginPath(); ctx.rect(LABEL_W, hostTop, W - LABEL_W, hostBottom - hostTop); ctx.clip();
    if (n <= ARROW_LIMIT) {
      for (let i = lo; i < hi; i++) {
        const m = msgs[i];
        if ((m[1] >= 0 ? m[1] : m[0]) < view.t0 || !shown(m)) continue;
        drawArrow(m, hover && hover.msg === i);
        stats.arrows++;
      }
    } else {
      drawCounts(lo, hi);
    }
    ctx.restore();
  }

  function drawArrow(m, hot) {
    const x0 = x(m[0]), y0 = laneY[m[2]], y1 = laneY[m[3]];
    ctx.strokeStyle = hot ? '#000' : PROTO_COLOR[m[4]];
    ctx.fillStyle = ctx.strokeStyle;
    ctx.globalAlpha = hot ? 1 : 0.75;
    ctx.lineWidth = hot ? 2 : 1;
    if (m[1] < 0) { // never received: a stub ending in a cross
      const x1 = x0 + 10, ym = y0 + (y1 - y0) * 0.25;
      ctx.setLineDash([2, 2]); ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, ym); ctx.stroke(); ctx.setLineDash([]);
      ctx.beginPath(); ctx.moveTo(x1 - 3, ym - 3); ctx.lineTo(x1 + 3, ym + 3); ctx.moveTo(x1 - 3, ym + 3); ctx.lineTo(x1 + 3, ym - 3); ctx.stroke();
    } else {
      const x1 = x(m[1]);
      ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); ctx.stroke();
      const ang = Math.atan2(y1 - y0, x1 - x0);
      ctx.beginPath(); ctx.moveTo(x1, y1);
      ctx.lineTo(x1 - 6 * Math.cos(ang - 0.4), y1 - 6 * Math.sin(ang - 0.4));
      ctx.lineTo(x1 - 6 * Math.cos(ang + 0.4), y1 - 6 * Math.sin(ang + 0.4));
      ctx.closePath(); ctx.fill();
    }
    ctx.globalAlpha = 1; ctx.lineWidth = 1;
  }

  // Too many to draw: per lane and pixel bucket, how many messages the host sent or
  // received there, as a bar whose height grows with the log of the count, colored by
  // the protocol with most of them.
  function drawCounts(lo, hi) {
    const buckets = Math.ceil((W - LABEL_W) / BUCKET_PX) + 1;
    const size = hosts.length * buckets * 4;
    if (!countBuf || countBuf.length < size) countBuf = new Int32Array(size);
    const c = countBuf;
    c.fill(0, 0, size);
    const scale = (W - LABEL_W) / span() / BUCKET_PX;
    const add = (lane, t, p) => {
      if (t < view.t0 || t > view.t1) return;
      c[((lane * buckets) + Math.floor((t - view.t0) * scale)) * 4 + p]++;
    };
    for (let i = lo; i < hi; i++) {
      const m = msgs[i];
      if (!shown(m)) continue;
      add(m[2], m[0], m[4]);
      if (m[1] >= 0) add(m[3], m[1], m[4]);
    }
    let max = 1;
    for (let k = 0; k < size; k += 4) max = Math.max(max, c[k] + c[k + 1] + c[k + 2] + c[k + 3]);
    const lmax = Math.log(1 + max);
    ctx.globalAlpha = 0.7;
    for (let lane = 0; lane < hosts.length; lane++) {
      for (let b = 0; b < buckets; b++) {
        const k = (lane * buckets + b) * 4;
        const total = c[k] + c[k + 1] + c[k + 2] + c[k + 3];
        if (!total) continue;
        let p = 0;
        for (let q = 1; q < 4; q++) if (c[k + q] > c[k + p]) p = q;
        const h = Math.max(1, Math.log(1 + total) / lmax * (LANE_H / 2 - 2));
        ctx.fillStyle = PROTO_COLOR[p];
        ctx.fillRect(LABEL_W + b * BUCKET_PX, laneY[lane] - h, BUCKET_PX - 0.5, h);
      }
    }
    ctx.globalAlpha = 1;
  }

  function drawFaultLines(vy0, vy1) {
    let n = 0;
    const all = D.marks;
    const lo = lowerBound(markStarts, view.t0);
    ctx.strokeStyle = 'rgba(217,48,37,0.28)';
    ctx.setLineDash([3, 3]);
    for (let i = lo; i < all.length && all[i][0] <= view.t1 && n < MARK_LINE_LIMIT; i++, n++) {
      const px = Math.round(x(all[i][0])) + 0.5;
      ctx.beginPath(); ctx.moveTo(px, Math.max(vy0, hostTop)); ctx.lineTo(px, vy1); ctx.stroke();
    }
    ctx.setLineDash([]);
    const we = D.meta.workload_end;
    if (we > view.t0 && we < view.t1) {
      ctx.strokeStyle = 'rgba(52,64,84,0.6)';
      ctx.beginPath(); ctx.moveTo(x(we) + 0.5, Math.max(vy0, hostTop)); ctx.lineTo(x(we) + 0.5, vy1); ctx.stroke();
    }
  }

  function updateInfo() {
    const mode = stats.inView > ARROW_LIMIT
      ? stats.inView.toLocaleString('en') + ' messages in view, drawn as counts per ' + BUCKET_PX + ' px (zoom in to below ' + ARROW_LIMIT.toLocaleString('en') + ' for arrows)'
      : stats.arrows.toLocaleString('en') + ' messages in view, drawn as arrows';
    info.textContent = (view.t0 / 1e6).toFixed(3) + 's .. ' + (view.t1 / 1e6).toFixed(3) + 's (' + dur(span()) + '); ' + mode;
    const plotView = (view.t0 / 1000).toFixed(3) + ' 0 ' + (span() / 1000).toFixed(3) + ' 100';
    for (const svg of document.querySelectorAll('svg.plot-data')) svg.setAttribute('viewBox', plotView);
  }

  let pending = false;
  function requestDraw() { if (!pending) { pending = true; requestAnimationFrame(draw); } }

  function setView(t0, t1) {
    let s = Math.max(MIN_SPAN, Math.min(END, t1 - t0));
    t0 = Math.max(0, Math.min(END - s, t0));
    view = { t0, t1: t0 + s };
    requestDraw();
    saveView();
  }
  // The view lives in the address (#view=12.5,14): a link or a reload shows the same
  // stretch of the run.
  let saveTimer = 0;
  function saveView() {
    clearTimeout(saveTimer);
    saveTimer = setTimeout(() => {
      try { history.replaceState(null, '', '#view=' + (view.t0 / 1e6).toFixed(6) + ',' + (view.t1 / 1e6).toFixed(6)); } catch (e) { /* some file:// pages refuse it */ }
    }, 300);
  }
  function zoom(factor, at) {
    const t = at === undefined ? (view.t0 + view.t1) / 2 : at;
    setView(t - (t - view.t0) * factor, t + (view.t1 - t) * factor);
  }

  // ---- hit testing and tooltips -----------------------------------------------------------
  function rowAt(py) {
    let lo = 0, hi = rows.length - 1;
    while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (rows[mid].y <= py) lo = mid; else hi = mid - 1; }
    const r = rows[lo];
    return r && py < r.y + r.h ? r : null;
  }

  function distToSegment(px, py, x0, y0, x1, y1) {
    const dx = x1 - x0, dy = y1 - y0;
    const len = dx * dx + dy * dy;
    let u = len ? ((px - x0) * dx + (py - y0) * dy) / len : 0;
    u = Math.max(0, Math.min(1, u));
    const ex = x0 + u * dx - px, ey = y0 + u * dy - py;
    return Math.sqrt(ex * ex + ey * ey);
  }

  function msgText(i) {
    const m = msgs[i];
    return PROTO[m[4]] + ' message\n' + fmt(m[0]) + ' ' + hosts[m[2]].name + ' -> ' + hosts[m[3]].name + '  ' + D.lines[m[5]] +
      '\n' + (m[1] >= 0 ? 'received ' + fmt(m[1]) + ' (' + dur(m[1] - m[0]) + ' in flight)' : 'never received');
  }

  function find(px, py) {
    const t = tAt(px);
    const tol = span() / (W - LABEL_W) * 4;
    if (px < LABEL_W) return null;
    if (py >= hostTop && py < hostBottom && stats.inView <= ARROW_LIMIT) {
      const [lo, hi] = msgRange();
      let best = -1, bestD = 5;
      for (let i = lo; i < hi; i++) {
        const m = msgs[i];
        if ((m[1] >= 0 ? m[1] : m[0]) < view.t0 || !shown(m)) continue;
        const x1 = m[1] >= 0 ? x(m[1]) : x(m[0]) + 10;
        const y1 = m[1] >= 0 ? laneY[m[3]] : laneY[m[2]] + (laneY[m[3]] - laneY[m[2]]) * 0.25;
        const d = distToSegment(px, py, x(m[0]), laneY[m[2]], x1, y1);
        if (d < bestD) { bestD = d; best = i; }
      }
      if (best >= 0) return { msg: best, text: msgText(best) };
    }
    const r = rowAt(py);
    if (!r) return null;
    if (r.type === 'host') {
      const lines = [];
      for (const m of marksByLane[r.lane]) if (Math.abs(m[0] - t) <= tol) lines.push(fmt(m[0]) + ' ** ' + m[2]);
      for (const s of spansByLane[r.lane]) if (s[2] <= t && t <= s[3]) lines.push(s[1] + ' ' + fmt(s[2]) + ' .. ' + fmt(s[3]) + ' (' + dur(s[3] - s[2]) + '): ' + s[4]);
      for (const l of leadersByLane[r.lane]) if (l[3] <= t && t <= l[4]) lines.push('leader of group ' + l[0] + ' in term ' + l[2] + ' (frames as leader ' + fmt(l[3]) + ' .. ' + fmt(l[4]) + ')');
      if (!lines.length && stats.inView > ARROW_LIMIT) lines.push('zoom in to see single messages');
      return lines.length ? { text: r.label + '\n' + lines.join('\n') } : null;
    }
    if (r.type === 'group') {
      for (const l of leadersByGroup[r.group] || []) if (l[3] - tol <= t && t <= l[4] + tol) return { text: 'group ' + l[0] + ': ' + hosts[l[1]].name + ' leads term ' + l[2] + '\nfirst frame as leader ' + fmt(l[3]) + ', last ' + fmt(l[4]) };
      return null;
    }
    if (r.type === 'join') {
      for (const l of locksByJoin[r.join.join] || []) if (py > r.y + 17 && l[3] <= t && t <= l[4]) return { text: 'write lock on group ' + l[0] + ' (granted by ' + hosts[l[1]].name + ')\n' + fmt(l[3]) + ' .. ' + fmt(l[4]) + ': held ' + dur(l[4] - l[3]) + (l[5] ? '' : ', never released') };
      for (const s of r.join.steps) if (s[1] - tol <= t && t <= s[2] + tol) return { text: 'join ' + r.join.join + ' step ' + s[0] + ' (' + s[3] + ' line' + (s[3] > 1 ? 's' : '') + (s[4] >= 0 ? ', first to ' + hosts[s[4]].name : '') + ')\n' + fmt(s[1]) + ' .. ' + fmt(s[2]) + ' (' + dur(s[2] - s[1]) + ')' };
      return null;
    }
    if (r.type === 'key') {
      const k = perKey[r.key];
      const sub = Math.floor((py - r.y - KEY_PAD) / SUB_H);
      const from = lowerBound(k.starts, view.t0 - k.maxDur);
      for (let j = from; j < k.ops.length && k.starts[j] <= t + tol; j++) {
        const o = ops[k.ops[j]];
        if (k.sub[j] === sub && o[3] - tol <= t && t <= o[4] + tol) return { op: k.ops[j], text: opText(k.ops[j]) };
      }
    }
    return null;
  }

  function opText(i) {
    const o = ops[i];
    const who = o[2] === 0 ? 'verifier' : 'c' + o[2] + ' process ' + o[1];
    let s = D.keys[o[0]] + ' (' + who + ', ' + OUTCOME[o[5]] + ')\n' + o[6] + '\ninvoked ' + fmt(o[3]) + ', completed ' + fmt(o[4]) + ' (' + dur(o[4] - o[3]) + ')';
    if (badOps.has(i)) s += '\npart of a linearizability violation: see the panel';
    return s;
  }

  // ---- interaction ------------------------------------------------------------------------
  let drag = null;
  function local(e) { const r = lanes.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; }
  lanes.addEventListener('mousemove', (e) => {
    const [px, py] = local(e);
    if (drag) {
      if (drag.select) { drag.x1 = px; cursorT = tAt(px); requestDraw(); return; }
      const dt = (px - drag.x) / (W - LABEL_W) * (drag.t1 - drag.t0);
      setView(drag.t0 - dt, drag.t1 - dt);
      return;
    }
    cursorT = px >= LABEL_W ? tAt(px) : null;
    const found = find(px, py);
    hover = found;
    if (found) {
      tip.textContent = found.text;
      tip.hidden = false;
      const left = Math.min(e.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
      tip.style.left = left + 'px';
      tip.style.top = (e.clientY + 16) + 'px';
    } else tip.hidden = true;
    requestDraw();
  });
  lanes.addEventListener('mouseleave', () => { tip.hidden = true; hover = null; cursorT = null; requestDraw(); });
  lanes.addEventListener('mousedown', (e) => {
    const [px] = local(e);
    drag = { x: px, x1: px, t0: view.t0, t1: view.t1, select: e.shiftKey };
    lanes.classList.add('dragging');
  });
  window.addEventListener('mouseup', (e) => {
    if (!drag) return;
    const d = drag;
    drag = null;
    lanes.classList.remove('dragging');
    const [px, py] = local(e);
    if (d.select && Math.abs(d.x1 - d.x) > 4) setView(tAt(Math.min(d.x, d.x1)), tAt(Math.max(d.x, d.x1)));
    else if (Math.abs(px - d.x) < 3) { const f = find(px, py); if (f) detail.textContent = f.text; }
  });
  lanes.addEventListener('dblclick', () => setView(0, END));
  function onWheel(e) {
    if (!(e.ctrlKey || e.metaKey || e.currentTarget === axis)) {
      if (e.shiftKey) { e.preventDefault(); const dt = e.deltaY / (W - LABEL_W) * span(); setView(view.t0 + dt, view.t1 + dt); }
      return;
    }
    e.preventDefault();
    const r = lanes.getBoundingClientRect();
    zoom(Math.exp(e.deltaY * 0.0015), tAt(e.clientX - r.left));
  }
  lanes.addEventListener('wheel', onWheel, { passive: false });
  axis.addEventListener('wheel', onWheel, { passive: false });
  window.addEventListener('keydown', (e) => {
    if (e.target && /INPUT|SELECT|TEXTAREA/.test(e.target.tagName)) return;
    if (e.key === '+' || e.key === '=') zoom(0.5);
    else if (e.key === '-') zoom(2);
    else if (e.key === '0') setView(0, END);
    else if (e.key === 'ArrowLeft') setView(view.t0 - span() / 4, view.t1 - span() / 4);
    else if (e.key === 'ArrowRight') setView(view.t0 + span() / 4, view.t1 + span() / 4);
  });
  window.addEventListener('scroll', requestDraw, { passive: true });
  window.addEventListener('resize', () => { resize(); requestDraw(); });
  document.getElementById('zoom-in').addEventListener('click', () => zoom(0.5));
  document.getElementById('zoom-out').addEventListener('click', () => zoom(2));
  document.getElementById('zoom-fit').addEventListener('click', () => setView(0, END));
  ['client', 'ecs', 'peer'].forEach((name, p) => {
    const box = document.getElementById('p-' + name);
    box.addEventListener('change', () => { filter.proto[p] = box.checked; requestDraw(); });
  });
  const hostSelect = document.getElementById('host-filter');
  hosts.forEach((h, i) => { const o = document.createElement('option'); o.value = String(i); o.textContent = h.name; hostSelect.appendChild(o); });
  hostSelect.addEventListener('change', () => { filter.host = Number(hostSelect.value); requestDraw(); });

  // The violations beside the timeline: the checker's words, and a button that brings
  // the operations into view.
  const vbox = document.getElementById('violations');
  if (D.violations.length) {
    const h = document.createElement('h2');
    h.textContent = 'Linearizability violations (' + D.violations.length + ')';
    vbox.appendChild(h);
  }
  D.violations.forEach((v) => {
    const div = document.createElement('div');
    div.className = 'violation';
    const title = document.createElement('b');
    title.textContent = v.key + ': ' + v.ops.length + ' operations';
    const button = document.createElement('button');
    button.textContent = 'show on the timeline';
    button.addEventListener('click', () => {
      let a = Infinity, b = 0;
      for (const i of v.ops) { a = Math.min(a, ops[i][3]); b = Math.max(b, ops[i][4]); }
      const pad = Math.max((b - a) * 0.1, 1000);
      setView(a - pad, b + pad);
      const r = rows[keyRow[keyIndex[v.key]]];
      window.scrollTo({ top: lanes.getBoundingClientRect().top + window.scrollY + r.y - 200 });
    });
    const explanation = document.createElement('pre');
    explanation.textContent = v.explanation;
    const more = document.createElement('details');
    const sum = document.createElement('summary');
    sum.textContent = 'timeline of the failing sub-history';
    const pre = document.createElement('pre');
    pre.textContent = v.timeline;
    more.appendChild(sum); more.appendChild(pre);
    div.appendChild(title); div.appendChild(document.createElement('br')); div.appendChild(button);
    div.appendChild(explanation); div.appendChild(more);
    vbox.appendChild(div);
  });

  // The axis sticks under the sticky controls bar.
  axis.style.top = document.getElementById('controls').offsetHeight + 'px';
  const asked = /view=([0-9.]+),([0-9.]+)/.exec(location.hash);
  if (asked) {
    const t0 = parseFloat(asked[1]) * 1e6, t1 = parseFloat(asked[2]) * 1e6;
    if (t1 > t0) view = { t0: Math.max(0, t0), t1: Math.min(END, t1) };
  }
  resize();
  draw();
  // For tests and the curious: the page worked, how long it took, what it drew.
  const root = document.documentElement;
  root.setAttribute('data-lanes', hosts.map((h) => h.name).join(','));
  root.setAttribute('data-ops', String(perKey.reduce((n, k) => n + k.ops.length, 0)));
  root.setAttribute('data-render-ms', (performance.now() - started).toFixed(1));
  // #bench: time 40 redraws while zooming in from the whole run to a 0.2% slice and
  // back (what a wheel gesture does), for a figure of how responsive the page is.
  if (/bench/.test(location.hash)) {
    const times = [];
    for (let i = 0; i < 40; i++) {
      const f = Math.pow(0.002, (i < 20 ? i : 39 - i) / 19);
      const mid = END * 0.4;
      view = { t0: Math.max(0, mid - END * f / 2), t1: Math.min(END, mid + END * f / 2) };
      const a = performance.now();
      draw();
      times.push(performance.now() - a);
    }
    times.sort((a, b) => a - b);
    root.setAttribute('data-bench-ms', 'median ' + times[20].toFixed(1) + ' max ' + times[39].toFixed(1));
  }
  root.setAttribute('data-report-ready', 'yes');
})();
