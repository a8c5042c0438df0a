// Explain: which route would serve a request, under which policies, and why every other route
// did not (GET /routes/match). The question is kept in the URL (#/explain?method=…&path=…), so
// an explanation can be shared as a link and survives a reload.

import {api} from '../api.js';
import {clearFieldErrors, field, h, replace, showFieldErrors} from '../dom.js';
import {pathTo} from '../router.js';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
const HEADER_PREFIX = 'header.';

// Human wording of the API's verdicts; an unknown verdict is shown as the API wrote it.
const VERDICTS = {
  selected: 'Selected',
  lost_on_precedence: 'Lost on precedence',
  host_mismatch: 'Host does not match',
  path_mismatch: 'Path does not match',
  method_mismatch: 'Method does not match',
  header_mismatch: 'Headers do not match',
};

export const views = [{path: '/explain', title: 'Explain a request', nav: 'explain', render: renderExplain}];

async function renderExplain(main) {
  const controls = {
    method: h('select', {name: 'method'}, METHODS.map((m) => h('option', {value: m, text: m}))),
    host: h('input', {name: 'host', type: 'text', placeholder: 'api.example.com', autocomplete: 'off',
      spellcheck: 'false'}),
    path: h('input', {name: 'path', type: 'text', placeholder: '/orders/7?page=2', required: true,
      autocomplete: 'off', spellcheck: 'false'}),
    headers: h('textarea', {name: 'headers', rows: 3, placeholder: 'x-version: 2', spellcheck: 'false'}),
  };
  const submit = h('button', {type: 'submit', class: 'primary', text: 'Explain'});
  const form = h('form', {class: 'explain-form', novalidate: true},
      h('div', {class: 'form-row'},
          field('Method', controls.method, {field: 'method'}),
          field('Host', controls.host, {field: 'host', hint: 'Empty: a request without a Host header.'}),
          field('Path', controls.path, {field: 'path', hint: 'May include a query string.'})),
      // Errors name the API parameter ("header.x-version"); they land here through "header".
      field('Headers', controls.headers, {field: 'header', hint: 'One "name: value" per line.'}),
      h('div', {class: 'actions'}, submit));
  const result = h('div');
  main.append(h('h1', {text: 'Explain a request'}), form, result);

  const explain = async (query) => {
    clearFieldErrors(form);
    submit.disabled = true;
    try {
      const {data} = await api('GET', '/routes/match', {query});
      replace(result, explanation(data));
    } catch (error) {
      if (error.status === 401) return;
      replace(result);
      showFieldErrors(form, error);
    } finally {
      submit.disabled = false;
    }
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const query = queryOf(controls);
    if (query.error) {
      showFieldErrors(form, query.error);
      return;
    }
    // replaceState: the URL records the question without a hashchange re-rendering the page.
    history.replaceState(null, '', `#/explain?${new URLSearchParams(query)}`);
    explain(query);
  });

  const saved = savedQuery();
  if (saved.path) {
    fillForm(controls, saved);
    await explain(saved);
  }
}

// The API query for the form's values, or {error} (shaped like an ApiError for showFieldErrors)
// when a header line is not "name: value".
function queryOf(controls) {
  const query = {method: controls.method.value, path: controls.path.value.trim()};
  const host = controls.host.value.trim();
  if (host) query.host = host;
  const lines = controls.headers.value.split('\n').map((line) => line.trim());
  for (const [index, line] of lines.entries()) {
    if (!line) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      const message = `line ${index + 1} is not "name: value"`;
      return {error: {message, fieldErrors: [{field: 'header', message}]}};
    }
    query[HEADER_PREFIX + line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return query;
}

// The question in the URL's hash ("#/explain?method=GET&path=%2Fx"), as an API query.
function savedQuery() {
  const search = window.location.hash.split('?')[1] || '';
  return Object.fromEntries(new URLSearchParams(search));
}

function fillForm(controls, query) {
  if (METHODS.includes(query.method)) controls.method.value = query.method;
  controls.host.value = query.host || '';
  controls.path.value = query.path || '';
  controls.headers.value = Object.entries(query)
      .filter(([name]) => name.startsWith(HEADER_PREFIX))
      .map(([name, value]) => `${name.slice(HEADER_PREFIX.length)}: ${value}`)
      .join('\n');
}

// ---- The result ----

function explanation(data) {
  return h('section', {class: 'explain-result', 'aria-labelledby': 'explain-result-heading'},
      h('h2', {id: 'explain-result-heading', text: 'Result'}),
      data.matched ? matchedDetails(data.matched) :
        h('p', {class: 'notice'}, h('strong', {text: 'No route matches'}),
            ': the proxy answers this request with 404.'),
      h('p', {class: 'hint', text: `Explained with configuration version ${data.version}.`}),
      h('h3', {id: 'explain-routes-heading', text: 'Every route, in precedence order'}),
      verdictTable(data.routes || []));
}

// "orders-api" linking to the entity's page; the id when it has no name.
function entityLink(kind, ref) {
  if (!ref) return '—';
  return h('a', {href: `#${pathTo(kind, ref.id)}`, text: ref.name ?? ref.id});
}

function matchedDetails(matched) {
  const policies = matched.policies || {};
  const limits = policies.rate_limit_policies || [];
  const params = Object.entries(matched.params || {});
  const groups = policies.allow_groups || [];
  return h('dl', {class: 'details'},
      detail('Route', entityLink('routes', matched.route)),
      detail('Service', matched.service ? entityLink('services', matched.service) : 'None (aggregate route)'),
      detail('Matched path', matched.path === null ? 'Any path' :
        [h('code', {text: matched.path}), ` (${matched.path_match})`]),
      detail('Host match', matched.host_match),
      params.length ? detail('Path parameters',
          h('ul', {class: 'plain'}, params.map(([name, value]) =>
            h('li', {}, h('code', {text: name}), ' = ', h('code', {text: value}))))) : null,
      detail('Upstream target', h('code', {text: matched.upstream_target})),
      detail('Authentication', policies.auth === 'api_key' ? 'API key' : 'None'),
      policies.auth === 'api_key' ?
        detail('Allowed groups', groups.length ? groups.join(', ') : 'Any consumer') : null,
      detail('Rate-limit policies', limits.length ?
        h('ul', {class: 'plain'}, limits.map((ref) => h('li', {}, entityLink('policies', ref)))) :
        'None on this route'));
}

function detail(term, description) {
  return h('div', {}, h('dt', {text: term}), h('dd', {}, description));
}

function verdictTable(routes) {
  if (routes.length === 0) return h('p', {class: 'empty', text: 'No routes are configured.'});
  const byId = new Map(routes.map((r) => [r.id, r]));
  return h('div', {class: 'table-wrap'},
      h('table', {'aria-labelledby': 'explain-routes-heading'},
          h('thead', {}, h('tr', {},
              h('th', {scope: 'col', text: 'Route'}),
              h('th', {scope: 'col', text: 'Verdict'}),
              h('th', {scope: 'col', text: 'Why'}))),
          h('tbody', {}, routes.map((route) => verdictRow(route, byId)))));
}

function verdictRow(route, byId) {
  const winner = route.lost_to ? byId.get(route.lost_to) ?? {id: route.lost_to} : null;
  return h('tr', {class: route.verdict === 'selected' ? 'selected' : null},
      h('td', {class: 'nowrap'}, entityLink('routes', route)),
      h('td', {}, h('span', {class: `badge verdict-${route.verdict}`,
        text: VERDICTS[route.verdict] ?? route.verdict})),
      h('td', {}, route.detail, winner ? [' · lost to ', entityLink('routes', winner)] : null));
}
