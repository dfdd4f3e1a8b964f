// sonde UI: polls the JSON API, draws the graph, shows a component's details and its live
// data. Every value from the API is written with textContent, never parsed as HTML.
'use strict';

(function () {
  const $ = id => document.getElementById(id);
  const POLL_MS = 2000, DETAILS_MS = 3000, LIVE_RATE = 20, LIVE_KEEP = 200, MIN_SCALE = 0.75;
  const state = {
    comps: new Map(), edges: [], structure: '', layouts: null, sig: '', svg: null, selected: null,
    live: null, livePaused: false, detailsTimer: null, lastData: null,
  };

  // ---- fetching -------------------------------------------------------------------------
  async function getJSON(path) {
    const r = await fetch(path, { cache: 'no-store' });
    if (!r.ok) throw new Error(path + ': ' + r.status + ' ' + (await r.text()).trim());
    return r.json();
  }
  const componentPath = id => id.split('/').map(encodeURIComponent).join('/');

  async function refresh() {
    try {
      const [comps, edges, reload] = await Promise.all([
        getJSON('api/v1/components'), getJSON('api/v1/edges'), getJSON('api/v1/status/reload')]);
      state.lastData = { comps, edges };
      showReload(reload);
      drawGraph(comps, edges);
    } catch (err) {
      setBanner('error', 'Cannot reach sonde: ' + err.message);
    }
  }

  // ---- reload banner --------------------------------------------------------------------
  function setBanner(kind, text, detail) {
    const b = $('reload');
    b.className = 'banner' + (kind === 'ok' ? '' : ' ' + kind);
    b.setAttribute('data-state', kind);
    b.textContent = text;
    if (detail) {
      const pre = document.createElement('pre');
      pre.textContent = detail;
      b.appendChild(pre);
    }
  }

  function showReload(st) {
    if (!st.time || st.time.startsWith('0001-')) {
      setBanner('pending', 'Configuration not loaded yet.');
      return;
    }
    const when = formatTime(st.time, true);
    const from = st.source ? ' from ' + st.source : '';
    if (st.success) {
      setBanner('ok', 'Configuration loaded ' + when + from + ' (' + st.trigger + ').');
    } else {
      setBanner('error', 'Reload rejected ' + when + from + ' (' + st.trigger + '); the running graph is unchanged:', st.error);
    }
  }

  // ---- graph ----------------------------------------------------------------------------
  function drawGraph(comps, edges) {
    state.comps = new Map(comps.map(c => [c.id, c]));
    state.edges = edges;
    const container = $('graph');
    const ids = comps.map(c => c.id);
    const flow = edges.map(e => ({ from: e.from, to: e.to, kind: e.kind }));
    const structure = JSON.stringify([ids, flow]);
    // Layers as columns; as rows when the columns do not fit the window even shrunk a
    // little (a narrow window) and rows are narrower.
    const avail = Math.max(container.clientWidth - 2, 200);
    if (structure !== state.structure) {
      state.structure = structure;
      state.layouts = { h: SondeGraph.layout(ids, flow, false) };
    }
    const h = state.layouts.h;
    let lay = h;
    if (h.width * MIN_SCALE > avail) {
      state.layouts.v = state.layouts.v || SondeGraph.layout(ids, flow, true);
      if (state.layouts.v.width < h.width) lay = state.layouts.v;
    }
    const sig = structure + (lay.vertical ? '|v' : '|h');
    if (sig !== state.sig || !state.svg) {
      const active = document.activeElement;
      const focused = active && active.getAttribute ? active.getAttribute('data-id') : null;
      state.svg = SondeGraph.render(container, lay, state.comps, id => openDetails(id, true));
      state.svg.setAttribute('data-orientation', lay.vertical ? 'vertical' : 'horizontal');
      state.sig = sig;
      markSelected();
      if (focused) {
        const g = nodeEl(focused);
        if (g) g.focus();
      }
    } else {
      state.svg.querySelectorAll('g.node').forEach(g => SondeGraph.update(g, state.comps.get(g.getAttribute('data-id'))));
    }
    // Shrink to fit, but never below MIN_SCALE: past that the graph scrolls instead.
    const scale = Math.min(1, Math.max(MIN_SCALE, avail / lay.width));
    state.svg.setAttribute('width', Math.round(lay.width * scale));
    state.svg.setAttribute('height', Math.round(lay.height * scale));
    SondeGraph.updateRates(state.svg, edges);
  }

  function nodeEl(id) {
    return state.svg ? [...state.svg.querySelectorAll('g.node')].find(g => g.getAttribute('data-id') === id) : null;
  }

  function markSelected() {
    if (!state.svg) return;
    state.svg.querySelectorAll('g.node').forEach(g => g.classList.toggle('selected', g.getAttribute('data-id') === state.selected));
  }

  // ---- details --------------------------------------------------------------------------
  function openDetails(id, focus) {
    const aside = $('details');
    state.selected = id;
    if (decodeURIComponent(location.hash.slice(1)) !== id) history.replaceState(null, '', '#' + encodeURIComponent(id));
    aside.hidden = false;
    aside.setAttribute('data-id', id);
    $('d-title').textContent = id;
    ['d-health', 'd-args', 'd-metrics'].forEach(x => { $(x).textContent = ''; });
    $('d-edges').textContent = '';
    $('d-exports').textContent = '';
    markSelected();
    state.livePaused = false;
    startLive(id);
    loadDetails();
    clearInterval(state.detailsTimer);
    state.detailsTimer = setInterval(loadDetails, DETAILS_MS);
    if (focus) $('d-title').focus();
    aside.scrollIntoView({ block: 'nearest' });
  }

  function closeDetails() {
    const id = state.selected;
    stopLive();
    clearInterval(state.detailsTimer);
    state.selected = null;
    $('details').hidden = true;
    history.replaceState(null, '', location.pathname + location.search);
    markSelected();
    const g = id && nodeEl(id);
    if (g) g.focus();
  }

  async function loadDetails() {
    const id = state.selected;
    if (!id) return;
    let d;
    try {
      d = await getJSON('api/v1/components/' + componentPath(id));
    } catch (err) {
      if (state.selected === id) $('d-health').textContent = err.message;
      return;
    }
    if (state.selected !== id) return;
    showHealth(d);
    showEdges(id, d.edges);
    await showExports(d);
    setText('d-args', toYAML(d.arguments, ''));
    setText('d-metrics', d.metrics || '(none)');
  }

  // setText changes a text only when it differs, so that a selection or scroll survives.
  function setText(id, text) {
    const e = $(id);
    if (e.textContent !== text) e.textContent = text;
  }

  // showHealth shows a component's health, its restarts and a crash loop (which makes the
  // agent unready).
  function showHealth(d) {
    const h = d.health;
    const p = $('d-health');
    p.textContent = '';
    const badge = document.createElement('span');
    badge.className = 'badge h-' + h.state;
    badge.textContent = h.state;
    p.appendChild(badge);
    p.setAttribute('data-health', h.state);
    p.appendChild(document.createTextNode(' since ' + formatTime(h.updated_at, true) + (h.message ? ': ' + h.message : '')));
    if (d.restarts) p.appendChild(document.createTextNode(' (restarted ' + d.restarts + (d.restarts === 1 ? ' time)' : ' times)')));
    if (d.crash_loop) {
      const c = document.createElement('strong');
      c.textContent = ' Crash-looping, agent not ready: ' + d.crash_loop;
      p.appendChild(c);
    }
  }

  function showEdges(id, edges) {
    const ul = $('d-edges');
    ul.textContent = '';
    if (!edges.length) {
      ul.appendChild(li('No edges.'));
      return;
    }
    edges.forEach(e => {
      const incoming = e.to === id, other = incoming ? e.from : e.to;
      const item = li((incoming ? '← from ' : '→ to '));
      const a = document.createElement('a');
      a.href = '#' + encodeURIComponent(other);
      a.textContent = other;
      a.addEventListener('click', ev => { ev.preventDefault(); openDetails(other, true); });
      item.appendChild(a);
      item.appendChild(document.createTextNode(' (' + e.field + ', ' + e.kind + '): ' + SondeGraph.edgeLabel(e) +
        (e.kind === 'targets' ? '' : ', ' + e.items + ' in total')));
      ul.appendChild(item);
    });
  }

  function li(text) {
    const e = document.createElement('li');
    e.textContent = text;
    return e;
  }

  async function showExports(d) {
    const box = document.createElement('div');
    if (d.debug !== undefined && d.debug !== null) {
      box.appendChild(renderValue(d.debug));
    }
    if (d.targets) {
      const p = document.createElement('p');
      p.textContent = d.targets.length + (d.targets.length === 1 ? ' target' : ' targets') + ' published:';
      box.appendChild(p);
      box.appendChild(table(['labels'], d.targets.map(t => [labelString(t)])));
    }
    if (d.type === 'prometheus.scrape' && (d.debug === undefined || d.debug === null) && d.http_path) {
      try {
        const st = await getJSON(d.http_path.replace(/^\//, ''));
        const ts = st.targets || [];
        const p = document.createElement('p');
        p.textContent = ts.length + ' scrape targets:';
        box.appendChild(p);
        box.appendChild(table(['target', 'health', 'last scrape', 'duration', 'error'], ts.map(t => [
          t.url, t.health, t.last_scrape && !t.last_scrape.startsWith('0001-') ? formatTime(t.last_scrape, false) : 'never',
          (t.last_scrape_duration / 1e6).toFixed(1) + ' ms', t.last_error || '',
        ]), 4));
      } catch (err) {
        box.appendChild(li(err.message));
      }
    }
    if (!box.childNodes.length) {
      const p = document.createElement('p');
      p.className = 'muted';
      p.textContent = 'Nothing to show: this component exports no targets and reports no inner state.';
      box.appendChild(p);
    }
    const out = $('d-exports');
    const lefts = [...out.querySelectorAll('.hscroll')].map(e => e.scrollLeft);
    out.textContent = '';
    out.appendChild(box);
    out.querySelectorAll('.hscroll').forEach((e, i) => { e.scrollLeft = lefts[i] || 0; });
  }

  function labelString(ls) {
    return '{' + Object.keys(ls).sort().map(k => k + '="' + ls[k] + '"').join(', ') + '}';
  }

  // table builds a table; errCol marks a column shown as an error.
  function table(head, rows, errCol) {
    const t = document.createElement('table');
    const tr = document.createElement('tr');
    head.forEach(h => { const th = document.createElement('th'); th.textContent = h; tr.appendChild(th); });
    t.appendChild(tr);
    rows.forEach(r => {
      const row = document.createElement('tr');
      r.forEach((c, i) => {
        const td = document.createElement('td');
        if (c instanceof Node) td.appendChild(c); else td.textContent = String(c);
        if (i === errCol && c) td.className = 'err';
        row.appendChild(td);
      });
      t.appendChild(row);
    });
    return t;
  }

  // renderValue shows JSON from DebugInfo: objects as key/value tables followed by their
  // nested objects and lists, each under its key; lists of up to 3 objects as one such table
  // each, longer ones as one table (scrolling sideways when wide); the rest as text.
  function renderValue(v) {
    if (Array.isArray(v)) {
      if (v.length && v.every(x => x && typeof x === 'object' && !Array.isArray(x))) {
        if (v.length <= 3) {
          const box = document.createElement('div');
          v.forEach((x, i) => {
            if (v.length > 1) {
              const p = document.createElement('p');
              p.textContent = (i + 1) + ' of ' + v.length + ':';
              box.appendChild(p);
            }
            box.appendChild(renderValue(x));
          });
          return box;
        }
        const cols = [];
        v.forEach(x => Object.keys(x).forEach(k => { if (!cols.includes(k)) cols.push(k); }));
        return scrollable(table(cols, v.map(x => cols.map(c => scalar(x[c]))), cols.indexOf('last_error')));
      }
      const pre = document.createElement('pre');
      pre.textContent = toYAML(v, '');
      return pre;
    }
    if (v && typeof v === 'object') {
      const box = document.createElement('div');
      const nested = k => v[k] !== null && typeof v[k] === 'object';
      const flat = Object.keys(v).filter(k => !nested(k));
      if (flat.length) {
        const t = table(['', ''], flat.map(k => [k, scalar(v[k])]));
        flat.forEach((k, i) => { if (k === 'last_error' && v[k]) t.rows[i + 1].cells[1].className = 'err'; });
        box.appendChild(t);
      }
      Object.keys(v).filter(nested).forEach(k => {
        const p = document.createElement('p');
        p.textContent = k + ':';
        box.append(p, renderValue(v[k]));
      });
      return box;
    }
    const s = document.createElement('span');
    s.textContent = scalar(v);
    return s;
  }

  // scrollable lets a wide table scroll sideways rather than squeeze its columns.
  function scrollable(t) {
    const d = document.createElement('div');
    d.className = 'hscroll';
    d.style.overflowX = 'auto';
    t.querySelectorAll('th, td').forEach(c => { c.style.whiteSpace = 'nowrap'; });
    d.appendChild(t);
    return d;
  }

  // scalar shows a JSON value as text; timestamps as local date and time.
  function scalar(v) {
    if (v === null || v === undefined) return '';
    if (typeof v === 'object') return JSON.stringify(v);
    if (typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v)) return formatTime(v, true);
    return String(v);
  }

  // toYAML renders JSON as YAML-like text, the way the configuration is written.
  function toYAML(v, ind) {
    if (v === null || v === undefined) return 'null';
    if (Array.isArray(v)) {
      if (!v.length) return '[]';
      return v.map(x => '\n' + ind + '- ' + toYAML(x, ind + '  ').replace(/^\n\s*/, '')).join('');
    }
    if (typeof v === 'object') {
      const keys = Object.keys(v);
      if (!keys.length) return '{}';
      return keys.map(k => '\n' + ind + k + ':' + (isScalar(v[k]) ? ' ' : '') + toYAML(v[k], ind + '  ')).join('');
    }
    if (typeof v === 'string') return /^[\w./:<>@-][\w ./:<>@,=-]*$/.test(v) && !/^(true|false|null|yes|no|~)$/i.test(v) && isNaN(+v) ? v : JSON.stringify(v);
    return String(v);
  }
  function isScalar(v) {
    return v === null || typeof v !== 'object' || (Array.isArray(v) ? !v.length : !Object.keys(v).length);
  }

  // ---- live view ------------------------------------------------------------------------
  function startLive(id) {
    stopLive();
    const list = $('d-live');
    list.textContent = '';
    const wait = li('Waiting for data…');
    wait.className = 'empty';
    list.appendChild(wait);
    $('d-live-rate').textContent = LIVE_RATE;
    $('d-live-toggle').textContent = 'Pause';
    const es = new EventSource('api/v1/live/' + componentPath(id) + '?rate=' + LIVE_RATE);
    es.onopen = () => { $('d-live-state').textContent = '● streaming'; };
    es.onerror = () => { $('d-live-state').textContent = 'reconnecting…'; };
    es.onmessage = ev => addLive(id, JSON.parse(ev.data));
    es.addEventListener('dropped', ev => { $('d-live-state').textContent = '● streaming (' + ev.data + ' items dropped: the page reads too slowly)'; });
    state.live = es;
  }

  function stopLive() {
    if (state.live) state.live.close();
    state.live = null;
    $('d-live-state').textContent = state.selected && state.livePaused ? 'paused' : '';
  }

  function addLive(id, it) {
    const list = $('d-live');
    const first = list.firstChild;
    if (first && first.className === 'empty') list.removeChild(first);
    const row = document.createElement('li');
    row.setAttribute('data-kind', it.kind);
    const dir = document.createElement('span');
    dir.className = 'dir';
    dir.textContent = formatTime(it.time, false) + ' ' + (it.from === id ? '→ ' + it.to : '← ' + it.from) + ' ';
    const labels = document.createElement('span');
    labels.className = 'labels';
    labels.textContent = it.labels + ' ';
    const value = document.createElement('span');
    value.className = 'value';
    value.textContent = it.value;
    row.append(dir, labels, value);
    list.insertBefore(row, list.firstChild);
    while (list.childNodes.length > LIVE_KEEP) list.removeChild(list.lastChild);
  }

  // ---- helpers --------------------------------------------------------------------------
  function formatTime(s, withDate) {
    const d = new Date(String(s).replace(/(\.\d{3})\d+/, '$1'));
    if (isNaN(d)) return String(s);
    const pad = (n, w) => String(n).padStart(w || 2, '0');
    const t = pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + '.' + pad(d.getMilliseconds(), 3);
    return withDate ? d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + t.slice(0, 8) : t;
  }

  // ---- wiring ---------------------------------------------------------------------------
  $('d-close').addEventListener('click', closeDetails);
  document.addEventListener('keydown', ev => {
    if (ev.key === 'Escape' && state.selected) closeDetails();
  });
  $('d-live-toggle').addEventListener('click', () => {
    if (state.live) {
      state.livePaused = true;
      stopLive();
      $('d-live-toggle').textContent = 'Resume';
    } else if (state.selected) {
      state.livePaused = false;
      startLive(state.selected);
    }
  });
  // A hidden tab watches nothing: the stream closes and reopens when the tab is shown.
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) {
      if (state.live) { state.live.close(); state.live = null; }
    } else if (state.selected && !state.livePaused && !state.live) {
      startLive(state.selected);
    }
  });
  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (state.lastData) drawGraph(state.lastData.comps, state.lastData.edges); }, 150);
  });
  window.addEventListener('hashchange', () => {
    const id = decodeURIComponent(location.hash.slice(1));
    if (id && id !== state.selected) openDetails(id, false);
  });

  getJSON('api/v1/status/build').then(b => { $('version').textContent = b.version; }).catch(() => {});
  refresh().then(() => {
    const id = decodeURIComponent(location.hash.slice(1));
    if (id && state.comps.has(id)) openDetails(id, false);
  });
  setInterval(refresh, POLL_MS);
})();
