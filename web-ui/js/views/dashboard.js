// The dashboard: the gateway's status (GET /status) and its proxy traffic, from the request
// counters in GET /metrics, refreshed every 5 seconds while the page is shown.

import {api} from '../api.js';
import {formatTime, h, replace} from '../dom.js';
import {pathTo} from '../router.js';

const POLL_MS = 5000;
const HISTORY_MS = 10 * 60 * 1000;  // how much traffic the chart shows
const ROUTE_RATE_MS = 60 * 1000;  // the "Traffic by route" rates are over the last minute
// Two samples further apart than this were not taken back to back (the operator was on another
// page): the chart leaves a gap rather than draw their average as if it had been measured.
const MAX_STEP_MS = 2.5 * POLL_MS;
const MIN_STEP_MS = POLL_MS / 2;
const CLASSES = ['2xx', '3xx', '4xx', '5xx'];
const REQUESTS_METRIC = 'turnpike_http_requests_total{';
const SVG_NS = 'http://www.w3.org/2000/svg';

// Counter samples, oldest first: {at: ms, counters: Map(key -> {route, status, value})}. Kept at
// module level so that leaving the dashboard and coming back keeps the last 10 minutes.
const samples = [];

const numberFormat = new Intl.NumberFormat(undefined, {maximumFractionDigits: 2});

export const views = [{path: '/', title: 'Dashboard', nav: 'dashboard', render: renderDashboard}];

async function renderDashboard(main) {
  const about = h('p', {class: 'hint'});
  const problem = h('div', {role: 'status'});
  const warnings = h('div');
  const cards = h('dl', {class: 'cards'});
  const chart = h('div', {class: 'chart'});
  const routeTable = h('div');
  main.append(
      h('h1', {text: 'Dashboard'}),
      about,
      problem,
      warnings,
      h('section', {'aria-labelledby': 'status-heading'},
          h('h2', {id: 'status-heading', text: 'Status'}), cards),
      h('section', {'aria-labelledby': 'traffic-heading'},
          h('h2', {id: 'traffic-heading', text: 'Traffic'}),
          h('div', {class: 'panel'}, chart)),
      h('section', {'aria-labelledby': 'routes-traffic-heading'},
          h('h2', {id: 'routes-traffic-heading', text: 'Traffic by route'}), routeTable));

  const refresh = async () => {
    const requestedAt = Date.now();
    const [{data: status}, {data: metrics}] = await Promise.all([
      api('GET', '/status'),
      api('GET', '/metrics', {text: true}),
    ]);
    addSample(requestedAt, parseRequestCounters(metrics));
    about.textContent = `Turnpike ${status.version}. Refreshed every ${POLL_MS / 1000} seconds; ` +
        `last at ${formatTime(Math.floor(Date.now() / 1000))}.`;
    replace(warnings, warningList(status.warnings));
    replace(cards, statusCards(status));
    replace(chart, trafficChart(chart.clientWidth));
    replace(routeTable, routeTrafficTable());
  };

  await refresh();  // a failure here is the router's to show: the page has nothing yet
  return startPolling(refresh, problem);
}

// Calls refresh() every POLL_MS (after the previous call ends, so calls never overlap) until the
// returned cleanup runs. A failed refresh is reported in `problem` and retried.
function startPolling(refresh, problem) {
  let stopped = false;
  let timer;
  const tick = async () => {
    try {
      await refresh();
      if (!stopped) replace(problem);
    } catch (error) {
      if (stopped) return;
      replace(problem, h('p', {class: 'notice',
        text: `Could not refresh: ${error.message}. Retrying every ${POLL_MS / 1000} seconds.`}));
    }
    if (!stopped) timer = setTimeout(tick, POLL_MS);
  };
  timer = setTimeout(tick, POLL_MS);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// ---- Status cards ----

const COUNT_LABELS = [
  ['services', 'Services'],
  ['routes', 'Routes'],
  ['consumers', 'Consumers'],
  ['rate_limit_policies', 'Rate-limit policies'],
  ['api_keys', 'API keys'],
  ['certificates', 'Certificates'],
];

// What the operator should act on (certificates that expire within 30 days or did), from
// /status's warnings; nothing when there are none.
function warningList(warnings) {
  if (!warnings?.length) return null;
  return h('div', {class: 'warnings', role: 'note', 'aria-label': 'Warnings'},
      h('ul', {class: 'plain'}, warnings.map((text) => h('li', {text}))),
      h('a', {href: '#/certificates', text: 'See the certificates'}));
}

function statusCards(status) {
  const counts = status.counts || {};
  return [
    card('Stored version', status.config_version),
    servedVersionCard(status.proxy),
    COUNT_LABELS.filter(([key]) => key in counts).map(([key, label]) => card(label, counts[key])),
    lastBuildCard(status.proxy?.last_build),
    card('Uptime', formatDuration(status.uptime_s)),
  ];
}

// One card of the <dl>: the label (dt), the value and any details (dd).
function card(label, value, ...details) {
  return h('div', {class: 'card'},
      h('dt', {text: label}),
      h('dd', {class: 'card-value', text: value ?? '—'}),
      details.filter(Boolean).map((detail) => h('dd', {class: 'card-detail'}, detail)));
}

const NO_PROXY = 'No proxy runs in this process.';

function servedVersionCard(proxy) {
  const workers = proxy?.workers || [];
  if (workers.length === 0) return card('Served version', null, NO_PROXY);
  return card('Served version', proxy.served_version,
      h('span', {class: proxy.in_sync ? 'badge ok' : 'badge warn',
        text: `In sync: ${proxy.in_sync ? 'yes' : 'no'}`}),
      h('ul', {class: 'workers', 'aria-label': 'Version each worker serves'},
          workers.map((w) => h('li', {text: `${w.worker}: version ${w.version}`}))));
}

function lastBuildCard(build) {
  if (!build) return card('Last snapshot build', null, NO_PROXY);
  const duration = typeof build.duration_ms === 'number' ?
    `${numberFormat.format(build.duration_ms)} ms` : null;
  const when = typeof build.at === 'number' ?
    [`Version ${build.version} at `, h('span', {class: 'nowrap', text: formatTime(Math.floor(build.at))})] :
    'No build has succeeded yet.';
  const error = build.error ?
    h('span', {class: 'card-error',
      text: `Version ${build.error_version} failed to build: ${build.error}`}) : null;
  return card('Last snapshot build', duration, when, error);
}

// 93784 -> "1 d 2 h": the two largest units are enough to read at a glance.
function formatDuration(seconds) {
  if (typeof seconds !== 'number') return null;
  const units = [['d', 86400], ['h', 3600], ['min', 60], ['s', 1]];
  const parts = [];
  let rest = seconds;
  for (const [name, size] of units) {
    const amount = Math.floor(rest / size);
    rest -= amount * size;
    if (amount > 0 || (parts.length === 0 && size === 1)) parts.push(`${amount} ${name}`);
    if (parts.length === 2) break;
  }
  return parts.join(' ');
}

// ---- Metrics ----

// The turnpike_http_requests_total counters of a Prometheus text exposition.
function parseRequestCounters(text) {
  const counters = new Map();
  for (const line of text.split('\n')) {
    if (!line.startsWith(REQUESTS_METRIC)) continue;
    const end = line.lastIndexOf('}');  // label values may hold '}', the sample value cannot
    const labels = parseLabels(line.slice(REQUESTS_METRIC.length, end));
    const value = Number(line.slice(end + 1).trim().split(/\s+/)[0]);
    if (labels.status === undefined || !Number.isFinite(value)) continue;
    const route = labels.route ?? '';
    counters.set(JSON.stringify([route, labels.status]), {route, status: labels.status, value});
  }
  return counters;
}

// 'route="a\"b",status="200"' -> {route: 'a"b', status: '200'}.
function parseLabels(text) {
  const labels = {};
  for (const [, name, raw] of text.matchAll(/([A-Za-z_]\w*)="((?:[^"\\]|\\.)*)"/g)) {
    labels[name] = raw.replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

// `at`: when the scrape was requested. A scrape that answers after a later one (from a visit
// to the dashboard that has ended) is dropped: its older counters would read as a reset. One
// soon after the previous (the dashboard was just reopened) replaces it: a rate over a fraction
// of a second is noise.
function addSample(at, counters) {
  const last = samples[samples.length - 1];
  if (last && at <= last.at) return;
  if (last && at - last.at < MIN_STEP_MS) samples.pop();
  samples.push({at, counters});
  // Keep one sample older than the window: the first interval drawn needs its start.
  while (samples.length > 2 && samples[1].at < at - HISTORY_MS) samples.shift();
}

function statusClass(status) {
  return `${String(status).charAt(0)}xx`;
}

// How much a counter grew from `older` to `newer`. A counter that went down was reset (the
// gateway restarted), so all of its current value is new.
function growth(counter, older) {
  const before = older.counters.get(JSON.stringify([counter.route, counter.status]))?.value ?? 0;
  return counter.value >= before ? counter.value - before : counter.value;
}

// Requests per second of each status class between two samples.
function classRates(older, newer) {
  const rates = Object.fromEntries(CLASSES.map((c) => [c, 0]));
  const seconds = (newer.at - older.at) / 1000;
  for (const counter of newer.counters.values()) {
    const cls = statusClass(counter.status);
    if (cls in rates) rates[cls] += growth(counter, older) / seconds;
  }
  return rates;
}

// ---- Chart ----

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  for (const child of children.flat()) {
    if (child) el.append(child);
  }
  return el;
}

// The rates of each interval between two samples, at its end: [{at, gap, rates}]. `gap`: the
// samples were not back to back.
function ratePoints() {
  const points = [];
  for (let i = 1; i < samples.length; i += 1) {
    const [older, newer] = [samples[i - 1], samples[i]];
    points.push({at: newer.at, gap: newer.at - older.at > MAX_STEP_MS, rates: classRates(older, newer)});
  }
  return points;
}

// 0.3 -> 0.5, 7 -> 10, 130 -> 200: the top of the y axis.
function niceCeiling(value) {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * magnitude).find((candidate) => candidate >= value);
}

function trafficChart(availableWidth) {
  const points = ratePoints();
  const width = Math.max(availableWidth || 640, 280);
  const height = 220;
  const pad = {left: 48, right: 12, top: 12, bottom: 28};
  const end = samples.length ? samples[samples.length - 1].at : Date.now();
  const start = end - HISTORY_MS;
  const top = niceCeiling(Math.max(0, ...points.flatMap((p) => CLASSES.map((c) => p.rates[c]))));
  const x = (at) => pad.left + ((at - start) / HISTORY_MS) * (width - pad.left - pad.right);
  const y = (rate) => height - pad.bottom - (rate / top) * (height - pad.top - pad.bottom);

  const grid = [0, top / 2, top].map((rate) => svg('g', {class: 'grid'},
      svg('line', {x1: pad.left, x2: width - pad.right, y1: y(rate), y2: y(rate)}),
      svg('text', {x: pad.left - 6, y: y(rate), 'text-anchor': 'end', 'dominant-baseline': 'middle'},
          numberFormat.format(rate))));
  const tickMinutes = width < 480 ? [10, 5, 0] : [10, 8, 6, 4, 2, 0];  // room for the labels
  const ticks = tickMinutes.map((minutesAgo) => svg('text', {
    class: 'tick', x: x(end - minutesAgo * 60000), y: height - 8, 'text-anchor': 'middle',
  }, minutesAgo === 0 ? 'now' : `−${minutesAgo} min`));
  const series = CLASSES.map((cls) => [cls, seriesPath(points, cls, x, y)])
      .filter(([, d]) => d)
      .map(([cls, d]) => svg('path', {class: `series series-${cls}`, d}));

  const figure = svg('svg', {
    role: 'img', 'aria-label': 'Requests per second by status class',
    viewBox: `0 0 ${width} ${height}`, width, height,
  }, grid, ticks, series);
  const latest = points[points.length - 1];
  const current = latest && !latest.gap ? latest.rates : null;  // null: no rate measured yet
  return [
    figure,
    chartLegend(current),
    current ? null :
      h('p', {class: 'empty', text: 'Collecting samples: the first rates show after the next refresh.'}),
  ];
}

// An SVG path through the points of one class, lifting the pen across gaps in the samples
// ('' when there is no point to draw).
function seriesPath(points, cls, x, y) {
  let d = '';
  let penDown = false;
  for (const point of points) {
    if (point.gap) {
      penDown = false;
      continue;
    }
    d += `${penDown ? 'L' : 'M'}${x(point.at).toFixed(1)},${y(point.rates[cls]).toFixed(1)} `;
    penDown = true;
  }
  return d.trim();
}

// The legend doubles as the chart's text equivalent: each class with its current rate.
function chartLegend(rates) {
  return h('ul', {class: 'legend', 'aria-label': 'Current requests per second by status class'},
      CLASSES.map((cls) => h('li', {},
          svg('svg', {class: 'swatch', width: 24, height: 10, 'aria-hidden': 'true'},
              svg('line', {class: `series series-${cls}`, x1: 0, x2: 24, y1: 5, y2: 5})),
          h('span', {class: 'legend-class', text: cls}),
          h('span', {text: rates ? `${numberFormat.format(rates[cls])} req/s` : '—'}))));
}

// ---- Traffic by route ----

// The sample closest to a minute before the latest one (null until there are two).
function rateBaseline() {
  const latest = samples[samples.length - 1];
  const baseline = samples.find((s) => s.at >= latest.at - ROUTE_RATE_MS - POLL_MS / 2);
  return baseline === latest ? null : baseline;
}

// [{route, cls, total, rate}] sorted by route then class; rate is null until there are two samples.
function routeTraffic() {
  const latest = samples[samples.length - 1];
  const baseline = rateBaseline();
  const rows = new Map();
  for (const counter of latest.counters.values()) {
    const cls = statusClass(counter.status);
    const key = JSON.stringify([counter.route, cls]);
    const row = rows.get(key) ?? {route: counter.route, cls, total: 0, growth: 0};
    row.total += counter.value;
    if (baseline) row.growth += growth(counter, baseline);
    rows.set(key, row);
  }
  const seconds = baseline ? (latest.at - baseline.at) / 1000 : 0;
  return [...rows.values()]
      .map((row) => ({...row, rate: baseline ? row.growth / seconds : null}))
      .sort((a, b) => a.route.localeCompare(b.route) || a.cls.localeCompare(b.cls));
}

function routeTrafficTable() {
  const rows = routeTraffic();
  if (rows.length === 0) return h('p', {class: 'empty', text: 'No proxy traffic yet.'});
  return h('div', {class: 'table-wrap'},
      h('table', {'aria-labelledby': 'routes-traffic-heading'},
          h('thead', {}, h('tr', {},
              h('th', {scope: 'col', text: 'Route'}),
              h('th', {scope: 'col', text: 'Class'}),
              h('th', {scope: 'col', class: 'number', text: 'Req/s (last minute)'}),
              h('th', {scope: 'col', class: 'number', text: 'Total'}))),
          h('tbody', {}, rows.map((row) => h('tr', {},
              h('td', {class: 'nowrap'}, routeCell(row.route)),
              h('td', {}, h('span', {class: `badge status-${row.cls}`, text: row.cls})),
              h('td', {class: 'number', text: row.rate === null ? '—' : numberFormat.format(row.rate)}),
              h('td', {class: 'number', text: numberFormat.format(row.total)}))))));
}

// The metric's route label is the route's name (or id): both address it in the API.
function routeCell(label) {
  if (!label) return h('span', {class: 'hint', text: 'No route matched'});
  return h('a', {href: `#${pathTo('routes', label)}`, text: label});
}
