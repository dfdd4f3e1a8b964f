// sonde UI: layered layout and SVG rendering of the component graph. No dependencies.
//
// Layout (Sugiyama style): components go into layers by longest path from the sources
// (sources in the first layer, sinks in the last); edges spanning several layers get
// dummy points so that they route between the boxes; the order within each layer is
// improved by barycentre sweeps that keep the ordering with the fewest crossings; the
// position along the layer is pulled towards each box's neighbours without overlaps.
'use strict';

window.SondeGraph = (function () {
  const BOX_W = 190, BOX_H = 46, DUMMY = 12, GAP_SLOT = 18, PAD = 24;
  const GAP_LAYER_H = 100, GAP_LAYER_V = 74;
  const SVGNS = 'http://www.w3.org/2000/svg';

  // layout computes positions. ids: component ids; edges: [{from, to, kind}] in the
  // direction data flows. vertical: layers as rows (for narrow windows) instead of columns;
  // then each connected part of the graph gets its own block, one below the other, so that
  // separate pipelines do not stand side by side.
  function layout(ids, edges, vertical) {
    if (!vertical) return layoutPart(ids, edges, false);
    const parts = connectedParts(ids, edges);
    if (parts.length < 2) return layoutPart(ids, edges, true);
    const out = { nodes: new Map(), edges: [], width: 0, height: 0, vertical: true, crossings: 0 };
    let top = 0, rank = 0;
    parts.forEach(part => {
      const inPart = new Set(part);
      const lay = layoutPart(part, edges.filter(e => inPart.has(e.from) && inPart.has(e.to)), true);
      const dy = top === 0 ? 0 : top - PAD;
      // Reading (and Tab) order: block by block, then layer by layer.
      [...lay.nodes.entries()].sort((a, b) => a[1].layer - b[1].layer || a[1].slot - b[1].slot)
        .forEach(([id, n]) => out.nodes.set(id, Object.assign({}, n, { y: n.y + dy, layer: rank++, slot: 0 })));
      lay.edges.forEach(r => out.edges.push({ edge: r.edge, points: r.points.map(p => ({ x: p.x, y: p.y + dy })) }));
      out.width = Math.max(out.width, lay.width);
      top = lay.height + dy;
      out.height = top;
      out.crossings += lay.crossings;
    });
    return out;
  }

  // connectedParts splits the graph into weakly connected parts, largest first.
  function connectedParts(ids, edges) {
    const parent = new Map(ids.map(id => [id, id]));
    const find = x => { while (parent.get(x) !== x) { parent.set(x, parent.get(parent.get(x))); x = parent.get(x); } return x; };
    edges.forEach(e => { if (parent.has(e.from) && parent.has(e.to)) parent.set(find(e.from), find(e.to)); });
    const parts = new Map();
    ids.forEach(id => { const r = find(id); if (!parts.has(r)) parts.set(r, []); parts.get(r).push(id); });
    return [...parts.values()].sort((a, b) => b.length - a.length);
  }

  function layoutPart(ids, edges, vertical) {
    const known = new Set(ids);
    const es = edges.filter(e => known.has(e.from) && known.has(e.to) && e.from !== e.to);
    const succ = new Map(ids.map(id => [id, []]));
    const pred = new Map(ids.map(id => [id, []]));
    es.forEach(e => { succ.get(e.from).push(e.to); pred.get(e.to).push(e.from); });

    // 1. Layers: longest path from the sources (bounded, so a cycle cannot loop).
    const layer = new Map(ids.map(id => [id, 0]));
    for (let i = 0; i < ids.length; i++) {
      let changed = false;
      for (const e of es) {
        const l = layer.get(e.from) + 1;
        if (l > layer.get(e.to) && l < ids.length) { layer.set(e.to, l); changed = true; }
      }
      if (!changed) break;
    }
    let maxL = 0;
    layer.forEach(l => { maxL = Math.max(maxL, l); });
    // Sinks go to the last layer; nodes in between move right next to their successors,
    // so that edges stay short. Sources stay in the first layer.
    ids.forEach(id => { if (succ.get(id).length === 0 && pred.get(id).length > 0) layer.set(id, maxL); });
    for (let pass = 0; pass < ids.length; pass++) {
      let changed = false;
      for (const id of ids) {
        if (pred.get(id).length === 0 || succ.get(id).length === 0) continue;
        const l = Math.min(...succ.get(id).map(s => layer.get(s))) - 1;
        if (l > layer.get(id)) { layer.set(id, l); changed = true; }
      }
      if (!changed) break;
    }

    // 2. Items per layer: the components and one dummy per layer an edge crosses.
    const items = new Map(); // key -> {key, id, dummy, layer, up: [], down: []}
    ids.forEach(id => items.set(id, { key: id, id: id, dummy: false, layer: layer.get(id), up: [], down: [] }));
    const chains = es.map((e, i) => {
      const a = layer.get(e.from), b = layer.get(e.to);
      const chain = [e.from];
      for (let l = a + 1; l < b; l++) {
        const k = '\u0000' + i + ':' + l;
        items.set(k, { key: k, dummy: true, layer: l, up: [], down: [] });
        chain.push(k);
      }
      chain.push(e.to);
      if (b > a) {
        for (let j = 0; j + 1 < chain.length; j++) {
          items.get(chain[j]).down.push(chain[j + 1]);
          items.get(chain[j + 1]).up.push(chain[j]);
        }
      }
      return chain;
    });

    // Initial order: depth first from the sources, so that chains start together.
    const rows = [];
    for (let l = 0; l <= maxL; l++) rows.push([]);
    const seen = new Set();
    const visit = k => {
      if (seen.has(k)) return;
      seen.add(k);
      const it = items.get(k);
      rows[it.layer].push(k);
      it.down.forEach(visit);
    };
    [...ids].sort().filter(id => items.get(id).up.length === 0).forEach(visit);
    [...items.keys()].forEach(visit);

    // 3. Order within layers: barycentre sweeps, keeping the best ordering seen.
    const index = new Map();
    const reindex = () => rows.forEach(r => r.forEach((k, i) => index.set(k, i)));
    const crossings = () => {
      let n = 0;
      for (let l = 0; l < maxL; l++) {
        const segs = [];
        rows[l].forEach(k => items.get(k).down.forEach(d => segs.push([index.get(k), index.get(d)])));
        for (let i = 0; i < segs.length; i++) {
          for (let j = i + 1; j < segs.length; j++) {
            if ((segs[i][0] - segs[j][0]) * (segs[i][1] - segs[j][1]) < 0) n++;
          }
        }
      }
      return n;
    };
    reindex();
    let best = rows.map(r => r.slice()), bestN = crossings();
    for (let iter = 0; iter < 12 && bestN > 0; iter++) {
      const down = iter % 2 === 0;
      const order = [];
      for (let l = 0; l <= maxL; l++) order.push(l);
      if (!down) order.reverse();
      for (const l of order) {
        const bary = new Map();
        rows[l].forEach(k => {
          const nb = down ? items.get(k).up : items.get(k).down;
          bary.set(k, nb.length ? nb.reduce((s, n) => s + index.get(n), 0) / nb.length : index.get(k));
        });
        rows[l].sort((a, b) => bary.get(a) - bary.get(b) || index.get(a) - index.get(b));
        rows[l].forEach((k, i) => index.set(k, i));
      }
      const n = crossings();
      if (n < bestN) { bestN = n; best = rows.map(r => r.slice()); }
    }
    best.forEach((r, l) => { rows[l] = r; });
    reindex();

    // 4. Position along the layer: pull towards the neighbours' centres, no overlaps.
    const size = k => items.get(k).dummy ? DUMMY : (vertical ? BOX_W : BOX_H);
    const center = new Map();
    rows.forEach(r => {
      let p = 0;
      r.forEach(k => { center.set(k, p + size(k) / 2); p += size(k) + GAP_SLOT; });
    });
    const place = (r, want) => {
      const n = r.length;
      if (n === 0) return;
      const gap = i => (size(r[i]) + size(r[i + 1])) / 2 + GAP_SLOT;
      const f = new Array(n), b = new Array(n);
      f[0] = want[0];
      for (let i = 1; i < n; i++) f[i] = Math.max(want[i], f[i - 1] + gap(i - 1));
      b[n - 1] = want[n - 1];
      for (let i = n - 2; i >= 0; i--) b[i] = Math.min(want[i], b[i + 1] - gap(i));
      r.forEach((k, i) => center.set(k, (f[i] + b[i]) / 2));
    };
    for (let iter = 0; iter < 8; iter++) {
      const down = iter % 2 === 0;
      for (let li = 0; li <= maxL; li++) {
        const l = down ? li : maxL - li;
        const r = rows[l];
        const want = r.map(k => {
          const it = items.get(k);
          const nb = (down ? it.up : it.down).concat(iter > 3 ? (down ? it.down : it.up) : []);
          return nb.length ? nb.reduce((s, x) => s + center.get(x), 0) / nb.length : center.get(k);
        });
        place(r, want);
      }
    }
    let lo = Infinity;
    center.forEach((c, k) => { lo = Math.min(lo, c - size(k) / 2); });
    center.forEach((c, k) => center.set(k, c - lo + PAD));

    // 5. Coordinates.
    const along = l => PAD + l * (vertical ? BOX_H + GAP_LAYER_V : BOX_W + GAP_LAYER_H);
    const nodes = new Map();
    let width = 0, height = 0;
    ids.forEach(id => {
      const l = layer.get(id), c = center.get(id);
      const n = vertical
        ? { x: c - BOX_W / 2, y: along(l), w: BOX_W, h: BOX_H, layer: l, slot: index.get(id) }
        : { x: along(l), y: c - BOX_H / 2, w: BOX_W, h: BOX_H, layer: l, slot: index.get(id) };
      nodes.set(id, n);
      width = Math.max(width, n.x + n.w + PAD);
      height = Math.max(height, n.y + n.h + PAD);
    });
    const point = k => {
      const it = items.get(k), c = center.get(k), a = along(it.layer);
      return vertical ? { x: c, y: a + BOX_H / 2 } : { x: a + BOX_W / 2, y: c };
    };
    // Parallel edges between the same two components get ports a few pixels apart.
    const pairs = new Map();
    es.forEach(e => { const k = e.from + '\u0000' + e.to; pairs.set(k, (pairs.get(k) || 0) + 1); });
    const seenPair = new Map();
    const routed = es.map((e, i) => {
      const k = e.from + '\u0000' + e.to;
      const nth = seenPair.get(k) || 0;
      seenPair.set(k, nth + 1);
      const off = (nth - (pairs.get(k) - 1) / 2) * 8;
      const a = nodes.get(e.from), b = nodes.get(e.to);
      const start = vertical ? { x: a.x + a.w / 2 + off, y: a.y + a.h } : { x: a.x + a.w, y: a.y + a.h / 2 + off };
      const end = vertical ? { x: b.x + b.w / 2 + off, y: b.y } : { x: b.x, y: b.y + b.h / 2 + off };
      const mid = chains[i].slice(1, -1).map(point);
      return { edge: e, points: [start].concat(mid, [end]) };
    });
    return { nodes: nodes, edges: routed, width: width, height: height, vertical: vertical, crossings: bestN };
  }

  // pathData draws smooth curves through the points, leaving and entering each along
  // the layer axis.
  function pathData(pts, vertical) {
    let d = 'M' + pts[0].x + ',' + pts[0].y;
    for (let i = 1; i < pts.length; i++) {
      const p = pts[i - 1], q = pts[i];
      if (vertical) {
        const dy = Math.max(Math.abs(q.y - p.y) / 2, 20);
        d += ' C' + p.x + ',' + (p.y + dy) + ' ' + q.x + ',' + (q.y - dy) + ' ' + q.x + ',' + q.y;
      } else {
        const dx = Math.max(Math.abs(q.x - p.x) / 2, 20);
        d += ' C' + (p.x + dx) + ',' + p.y + ' ' + (q.x - dx) + ',' + q.y + ' ' + q.x + ',' + q.y;
      }
    }
    return d;
  }

  function el(name, attrs, parent) {
    const e = document.createElementNS(SVGNS, name);
    Object.keys(attrs || {}).forEach(k => e.setAttribute(k, attrs[k]));
    if (parent) parent.appendChild(e);
    return e;
  }

  // fit shortens a text element's content with an ellipsis until it fits in max pixels.
  function fit(t, text, max) {
    t.textContent = text;
    if (t.getComputedTextLength() <= max) return;
    let lo = 0, hi = text.length;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      t.textContent = text.slice(0, mid) + '…';
      if (t.getComputedTextLength() <= max) lo = mid; else hi = mid - 1;
    }
    t.textContent = text.slice(0, lo) + '…';
  }

  function kindClass(kind) { return kind.startsWith('otlp') ? 'otlp' : kind; }

  // render draws the laid-out graph into container (replacing its content). comps maps
  // id -> component JSON. onOpen(id) is called when a box is clicked or Enter is pressed.
  function render(container, lay, comps, onOpen) {
    container.textContent = '';
    const svg = el('svg', {
      width: lay.width, height: lay.height, viewBox: '0 0 ' + lay.width + ' ' + lay.height,
      role: 'group', 'aria-label': 'Component graph, ' + lay.nodes.size + ' components',
    }, container);
    const defs = el('defs', {}, svg);
    ['metrics', 'logs', 'otlp', 'targets'].forEach(k => {
      const m = el('marker', { id: 'arrow-' + k, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, defs);
      el('path', { d: 'M0,0 L10,5 L0,10 z' }, m);
    });
    const gEdges = el('g', { class: 'edges' }, svg);
    const gNodes = el('g', { class: 'nodes' }, svg);
    const gRates = el('g', { class: 'rates' }, svg);
    lay.edges.forEach(r => {
      const e = r.edge, k = kindClass(e.kind);
      const p = el('path', {
        class: 'edge k-' + k, d: pathData(r.points, lay.vertical), 'marker-end': 'url(#arrow-' + k + ')',
        'data-from': e.from, 'data-to': e.to, 'data-kind': e.kind,
      }, gEdges);
      el('title', {}, p).textContent = e.from + ' → ' + e.to + ' (' + e.kind + ')';
      const seg = Math.floor((r.points.length - 1) / 2);
      const a = r.points[seg], b = r.points[seg + 1];
      const g = el('g', { class: 'rate', 'data-from': e.from, 'data-to': e.to, 'data-kind': e.kind }, gRates);
      g.setAttribute('data-x', (a.x + b.x) / 2);
      g.setAttribute('data-y', (a.y + b.y) / 2);
      el('rect', { rx: 4 }, g);
      el('text', { 'text-anchor': 'middle', 'dominant-baseline': 'central' }, g);
    });
    // Boxes in reading order (layer, then position), which is also the Tab order.
    const order = [...lay.nodes.keys()].sort((a, b) => {
      const na = lay.nodes.get(a), nb = lay.nodes.get(b);
      return na.layer - nb.layer || na.slot - nb.slot;
    });
    order.forEach(id => {
      const n = lay.nodes.get(id), c = comps.get(id);
      const g = el('g', { class: 'node', tabindex: 0, role: 'button', 'data-id': id, transform: 'translate(' + n.x + ',' + n.y + ')' }, gNodes);
      el('rect', { class: 'box', width: n.w, height: n.h, rx: 6 }, g);
      el('rect', { class: 'bar', width: 6, height: n.h - 4, x: 2, y: 2, rx: 2 }, g);
      el('title', {}, g);
      const slash = id.indexOf('/');
      fit(el('text', { class: 'type', x: 14, y: 17 }, g), id.slice(0, slash), n.w - 22);
      fit(el('text', { class: 'name', x: 14, y: 35 }, g), id.slice(slash + 1), n.w - 22);
      g.addEventListener('click', () => onOpen(id));
      g.addEventListener('keydown', ev => {
        if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); onOpen(id); }
      });
      update(g, c);
    });
    return svg;
  }

  // update refreshes one box's health.
  function update(g, c) {
    const state = c && c.health ? c.health.state : 'unknown';
    g.setAttribute('class', 'node h-' + state + (g.classList.contains('selected') ? ' selected' : ''));
    g.setAttribute('data-health', state);
    const msg = c && c.health && c.health.message ? ': ' + c.health.message : '';
    g.setAttribute('aria-label', g.getAttribute('data-id') + ', ' + state + msg);
    g.querySelector('title').textContent = g.getAttribute('data-id') + '\n' + state + msg;
  }

  const UNITS = { metrics: 'samples/s', logs: 'lines/s', otlp_traces: 'spans/s', otlp_metrics: 'points/s', otlp_logs: 'records/s' };

  function formatRate(v) {
    if (v === null || v === undefined) return '…';
    if (v >= 1e6) return (v / 1e6).toFixed(1) + 'M';
    if (v >= 1e4) return (v / 1e3).toFixed(0) + 'k';
    if (v >= 1e3) return (v / 1e3).toFixed(1) + 'k';
    if (v >= 10 || v === 0) return v.toFixed(0);
    return v.toFixed(1);
  }

  // edgeLabel is the text on an arrow: its rate, or for targets the number of targets.
  function edgeLabel(e) {
    if (e.kind === 'targets') return e.targets + (e.targets === 1 ? ' target' : ' targets');
    return formatRate(e.rate) + ' ' + (UNITS[e.kind] || 'items/s');
  }

  // updateRates writes the edges' labels and sizes their backgrounds.
  function updateRates(svg, edges) {
    const byKey = new Map(edges.map(e => [e.from + '\u0000' + e.to + '\u0000' + e.kind, e]));
    svg.querySelectorAll('g.rate').forEach(g => {
      const e = byKey.get(g.getAttribute('data-from') + '\u0000' + g.getAttribute('data-to') + '\u0000' + g.getAttribute('data-kind'));
      const t = g.querySelector('text'), r = g.querySelector('rect');
      const x = +g.getAttribute('data-x'), y = +g.getAttribute('data-y');
      t.textContent = e ? edgeLabel(e) : '';
      t.setAttribute('x', x);
      t.setAttribute('y', y);
      const w = t.getComputedTextLength() + 10;
      r.setAttribute('x', x - w / 2);
      r.setAttribute('y', y - 9);
      r.setAttribute('width', w);
      r.setAttribute('height', 18);
    });
  }

  return { layout, render, update, updateRates, edgeLabel, formatRate, BOX_W, BOX_H, GAP_LAYER_H, PAD };
})();
