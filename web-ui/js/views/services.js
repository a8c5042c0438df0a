// Services: where traffic goes (targets, load balancing, timeouts, health checks, TLS to
// https:// targets, the protocol the targets speak).

import {entityViews, refLink} from './entity_pages.js';
import {h} from '../dom.js';
import {
  apiChoice, checkbox, fieldRow, numberInput, pemInput, rowsEditor, select, tagsInput, textInput,
  toggleGroup,
} from '../forms.js';

const LOAD_BALANCING = [
  ['round_robin', 'Round robin'],
  ['least_connections', 'Least connections'],
  ['consistent_hash', 'Consistent hash'],
];

const lbLabel = (value) => new Map(LOAD_BALANCING).get(value) ?? value;

// Every protocol of the API; the server refuses HTTP/2 and gRPC for now, and the form shows its
// error at the field.
const PROTOCOLS = [
  ['http1', 'HTTP/1.1'],
  ['http2', 'HTTP/2'],
  ['grpc', 'gRPC'],
];

const protocolLabel = (value) => new Map(PROTOCOLS).get(value) ?? value;

const targetText = (target) => `${target.url} (weight ${target.weight})`;

function healthCheckText(check) {
  if (!check) return 'Off';
  return `${check.path} every ${check.interval_ms} ms; unhealthy after ${check.unhealthy_after} ` +
    `failed checks, healthy again after ${check.healthy_after}`;
}

// How the service speaks TLS to its https:// targets; nothing when it has neither tls settings
// nor https targets.
function tlsNode(service, refs) {
  const tls = service.tls;
  if (!tls) {
    const https = service.targets.some((target) => target.url.startsWith('https://'));
    return https ? 'Defaults: verified against the system store, the target host as name' : null;
  }
  return [
    tls.verify ? 'Certificate verified' : 'Certificate not verified',
    tls.ca ?
      h('details', {}, h('summary', {text: 'Trusts its own CA certificates'}),
          h('pre', {text: tls.ca})) :
      'Trusts the system store',
    `Server name: ${tls.server_name ?? 'the target host'}`,
    tls.client_certificate ?
      h('span', {}, 'Client certificate: ',
          refLink('certificates', refs.certificates, tls.client_certificate)) :
      'No client certificate',
  ];
}

export const views = entityViews({
  noun: 'service',
  title: 'Service',
  plural: 'Services',
  collection: 'services',
  apiPath: '/services',
  nameKey: 'name',
  nameLabel: 'Name',
  nameOf: (service) => service.name,
  newLabel: 'New service',
  emptyText: 'No services yet',
  lookups: {certificates: '/certificates'},
  columns: [
    {label: 'Targets', value: (service) => service.targets.map(targetText)},
    {label: 'Load balancing', value: (service) => lbLabel(service.load_balancing)},
  ],
  details: (service, refs) => [
    {keys: ['targets'], label: 'Targets', value: service.targets.map(targetText)},
    {keys: ['load_balancing'], label: 'Load balancing', value: lbLabel(service.load_balancing)},
    {keys: ['hash_on'], label: 'Hash on', value: service.hash_on},
    {keys: ['connect_timeout_ms'], label: 'Connect timeout', value: `${service.connect_timeout_ms} ms`},
    {keys: ['read_timeout_ms'], label: 'Read timeout', value: `${service.read_timeout_ms} ms`},
    {keys: ['retries'], label: 'Retries', value: service.retries},
    {keys: ['protocol'], label: 'Protocol', value: protocolLabel(service.protocol)},
    {keys: ['idle_timeout_ms'], label: 'Idle timeout for tunnels',
      value: `${service.idle_timeout_ms} ms`},
    {keys: ['health_check'], label: 'Health check', value: healthCheckText(service.health_check)},
    {keys: ['tls'], label: 'TLS', value: tlsNode(service, refs)},
  ],
  form: () => [
    textInput('name', 'Name', {hint: 'Letters, digits and . _ ~ -'}),
    rowsEditor('targets', 'Targets', {
      hint: 'Upstream servers as http://host:port, or https://host:port for TLS (see TLS ' +
        'below). Weight defaults to 100; 0 takes a target out of rotation.',
      addLabel: 'Add target',
      removeLabel: 'Remove target',
      columns: [
        {key: 'url', make: (name) => textInput(name, 'Target URL')},
        {key: 'weight', make: (name) => numberInput(name, 'Weight')},
      ],
    }),
    select('load_balancing', 'Load balancing', LOAD_BALANCING),
    textInput('hash_on', 'Hash on', {
      hint: 'Consistent hash only: ip, consumer or header:<name>',
      suggestions: ['ip', 'consumer', 'header:'],
    }),
    fieldRow([
      numberInput('connect_timeout_ms', 'Connect timeout (ms)', {hint: 'Default 2000'}),
      numberInput('read_timeout_ms', 'Read timeout (ms)', {hint: 'Default 30000'}),
      numberInput('retries', 'Retries', {hint: 'Default 2'}),
    ]),
    fieldRow([
      select('protocol', 'Protocol', PROTOCOLS,
          {hint: 'What the targets speak; HTTP/2 and gRPC are not supported by this build yet'}),
      numberInput('idle_timeout_ms', 'Idle timeout for tunnels (ms)',
          {hint: 'WebSocket and other upgraded connections; default 60000'}),
    ]),
    toggleGroup('health_check', 'Health check', [
      textInput('health_check.path', 'Health check path', {hint: 'Default /'}),
      fieldRow([
        numberInput('health_check.interval_ms', 'Interval (ms)', {hint: 'Default 5000'}),
        numberInput('health_check.unhealthy_after', 'Unhealthy after',
            {hint: 'Failed checks; default 3'}),
        numberInput('health_check.healthy_after', 'Healthy after',
            {hint: 'Passed checks; default 2'}),
      ]),
    ]),
    toggleGroup('tls', 'TLS settings for https:// targets', [
      checkbox('tls.verify', 'Verify the target\'s certificate',
          {initial: true, hint: 'Its chain and name; on by default'}),
      pemInput('tls.ca', 'CA certificates (PEM)',
          {hint: 'What the targets\' certificates must chain to; empty: the system store'}),
      textInput('tls.server_name', 'Server name',
          {hint: 'Sent as SNI and checked in the certificate; empty: the target host'}),
      apiChoice('tls.client_certificate', 'Client certificate', {
        path: '/certificates', labelOf: (certificate) => certificate.name, placeholder: 'None',
        hint: 'Presented to targets that ask for one (from Certificates)',
      }),
    ]),
    tagsInput(),
  ],
});
