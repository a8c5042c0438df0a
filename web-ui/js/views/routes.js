// Routes: which requests go to which service (or, for an aggregate route, to several), and under
// which policies.

import {entityViews, refLink} from './entity_pages.js';
import {h} from '../dom.js';
import {
  apiChoice, checkbox, headersInput, jsonInput, listInput, numberInput, section, select, tagsInput,
  textInput,
} from '../forms.js';

const AUTH_TYPES = [['none', 'None'], ['api_key', 'API key']];

// Routes need no name; an unnamed one goes by its id.
const nameOf = (route) => route.name || route.id;

const headerLines = (headers) =>
  Object.entries(headers || {}).map(([name, values]) => `${name}: ${values.join(', ')}`);

function authText(auth) {
  if (auth.type !== 'api_key') return 'None';
  const hidden = auth.hide_credentials ? 'removed before proxying' : 'passed upstream';
  return `API key from ${auth.key_names.join(', ')} (${hidden})`;
}

const policyLinks = (ids, refs) => ids.map((id) => refLink('policies', refs.policies, id));

// Where the route sends requests: its service, or for an aggregate route (which has none) how
// many backends it fans out to.
function target(route, refs) {
  if (!route.aggregate) return refLink('services', refs.services, route.service);
  const count = route.aggregate.backends.length;
  return `Aggregate of ${count} backend${count === 1 ? '' : 's'}`;
}

// A transform or aggregate as the API returned it; '—' when the route has none.
const jsonBlock = (value) => (value ? h('pre', {text: JSON.stringify(value, null, 2)}) : null);

// Each backend on a line ("orders: GET /orders/{id} → user, required"), then the whole JSON.
function aggregateDetail(aggregate, refs) {
  if (!aggregate) return null;
  const backends = aggregate.backends.map((backend) => h('li', {},
      refLink('services', refs.services, backend.service), ': ',
      h('code', {text: `${backend.method} ${backend.path}`}),
      backend.group ? ` → ${backend.group}` : null,
      backend.required ? ', required' : null,
      backend.timeout_ms ? `, timeout ${backend.timeout_ms} ms` : null));
  return h('div', {},
      h('ul', {class: 'plain'}, backends),
      h('p', {class: 'hint', text: `Timeout ${aggregate.timeout_ms} ms for the whole fan-out.`}),
      jsonBlock(aggregate));
}

const JSON_HINT = 'Optional JSON object; empty: none. ';

export const views = entityViews({
  noun: 'route',
  title: 'Route',
  plural: 'Routes',
  collection: 'routes',
  apiPath: '/routes',
  nameKey: 'name',
  nameLabel: 'Name',
  nameOf,
  newLabel: 'New route',
  emptyText: 'No routes yet',
  lookups: {services: '/services', policies: '/rate-limit-policies'},
  columns: [
    {label: 'Paths', value: (route) => route.paths},
    {label: 'Methods', value: (route) => route.methods.join(', ')},
    {label: 'Service', value: target},
  ],
  details: (route, refs) => [
    {keys: ['service'], label: 'Service', value: target(route, refs)},
    {keys: ['hosts'], label: 'Hosts', value: route.hosts},
    {keys: ['paths'], label: 'Paths', value: route.paths},
    {keys: ['methods'], label: 'Methods', value: route.methods},
    {keys: ['headers'], label: 'Headers', value: headerLines(route.headers)},
    {keys: ['strip_path'], label: 'Strip path', value: route.strip_path},
    {keys: ['preserve_host'], label: 'Preserve host', value: route.preserve_host},
    {keys: ['priority'], label: 'Priority', value: route.priority},
    {keys: ['auth'], label: 'Authentication', value: authText(route.auth)},
    {keys: ['allow_groups'], label: 'Allow groups',
      value: route.allow_groups.length ? route.allow_groups : 'Any consumer'},
    {keys: ['rate_limit_policies'], label: 'Rate-limit policies',
      value: policyLinks(route.rate_limit_policies, refs)},
    {keys: ['request_transform'], label: 'Request transform',
      value: jsonBlock(route.request_transform)},
    {keys: ['response_transform'], label: 'Response transform',
      value: jsonBlock(route.response_transform)},
    {keys: ['aggregate'], label: 'Aggregate', value: aggregateDetail(route.aggregate, refs)},
  ],
  form: () => [
    textInput('name', 'Name', {hint: 'Optional. Letters, digits and . _ ~ -'}),
    apiChoice('service', 'Service', {
      path: '/services', labelOf: (service) => service.name, placeholder: 'Choose a service',
      hint: 'Leave empty for an aggregate route: its backends name the services',
    }),
    section('Matching', [
      listInput('hosts', 'Hosts',
          {hint: 'One per line or comma separated: api.example.com, *.example.org'}),
      listInput('paths', 'Paths', {
        lines: true,
        hint: 'One per line: a prefix (/orders), a template (/users/{id}) or a regex (~/v[0-9]+/items)',
      }),
      listInput('methods', 'Methods', {hint: 'One per line or comma separated: GET, POST'}),
      headersInput('headers', 'Headers'),
    ]),
    section('Forwarding', [
      checkbox('strip_path', 'Strip path',
          {initial: true, hint: 'Remove the matched path prefix upstream'}),
      checkbox('preserve_host', 'Preserve host', {hint: 'Send the client\'s Host header upstream'}),
      numberInput('priority', 'Priority',
          {hint: 'Higher wins among equally specific routes; default 0'}),
    ]),
    section('Access', [
      select('auth.type', 'Authentication', AUTH_TYPES),
      listInput('auth.key_names', 'Key names', {
        hint: 'Header or query parameter names carrying the key; default apikey',
      }),
      checkbox('auth.hide_credentials', 'Hide credentials', {hint: 'Remove the key before proxying'}),
      listInput('allow_groups', 'Allow groups', {hint: 'Consumer groups allowed; empty: any consumer'}),
      apiChoice('rate_limit_policies', 'Rate-limit policies', {
        path: '/rate-limit-policies', labelOf: (policy) => policy.name, multiple: true,
        emptyText: 'No rate-limit policies yet',
      }),
    ]),
    section('Transformation and aggregation', [
      jsonInput('request_transform', 'Request transform', {
        hint: JSON_HINT + 'e.g. {"set_headers": {"x-api-version": "2"}, "remove_headers": ' +
          '["cookie"]}; also rename_headers, set_query, remove_query and rewrite_path ' +
          '{"match": "^/v1/(.*)$", "replace": "/v2/\\1"}',
      }),
      jsonInput('response_transform', 'Response transform', {
        hint: JSON_HINT + 'e.g. {"remove_headers": ["server"], "json": {"allow": ["id", ' +
          '"items.name"], "deny": [], "rename": {"usr": "user"}, "wrap": "data"}, ' +
          '"max_body_bytes": 1048576}',
      }),
      jsonInput('aggregate', 'Aggregate', {
        hint: JSON_HINT + 'Fans out instead of proxying (leave Service empty), e.g. ' +
          '{"backends": [{"service": "users", "path": "/users/{id}", "group": "user", ' +
          '"required": true}], "timeout_ms": 10000}',
      }),
    ]),
    tagsInput(),
  ],
});
