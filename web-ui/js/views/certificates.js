// TLS certificates (UI path and API path /certificates): listed with their server names and
// expiry (those that expire within 30 days, or did, stand out), uploaded as PEM pasted or read
// from a file. The private key goes one way only: the API never returns it, so the edit form's
// key field starts empty, and leaving it empty keeps the stored key.

import {entityViews} from './entity_pages.js';
import {h, formatTime} from '../dom.js';
import {checkbox, listInput, pemInput, select, tagsInput, textInput} from '../forms.js';

const DAY_S = 86400;
const WARN_DAYS = 30;

const CLIENT_VERIFY = [
  ['off', 'Not asked for'],
  ['optional', 'Optional'],
  ['required', 'Required'],
];

const clientVerifyLabel = (value) => new Map(CLIENT_VERIFY).get(value) ?? value;

// "in 12 days", "in 5 hours", "3 days ago", from now to `seconds` (Unix).
function relative(seconds) {
  const left = seconds - Math.floor(Date.now() / 1000);
  const span = Math.abs(left);
  const amount = span >= 2 * DAY_S ? `${Math.floor(span / DAY_S)} days` :
    span >= 7200 ? `${Math.floor(span / 3600)} hours` : `${Math.floor(span / 60)} minutes`;
  return left < 0 ? `${amount} ago` : `in ${amount}`;
}

// The expiry date; within 30 days (or past) marked, with how long is left, for lists and
// details alike.
function expiryNode(certificate) {
  const left = certificate.not_after - Math.floor(Date.now() / 1000);
  const date = formatTime(certificate.not_after);
  if (left > WARN_DAYS * DAY_S) return date;
  const expired = left <= 0;
  return h('span', {class: expired ? 'expiry expired' : 'expiry expiring'},
      `${date} `,
      h('strong', {text: expired ? `(expired ${relative(certificate.not_after)})` :
                                   `(expires ${relative(certificate.not_after)})`}));
}

function snisNode(certificate) {
  const names = certificate.snis ?? [];
  if (!certificate.default) return names;
  return [...names, h('span', {class: 'badge', text: 'default'})];
}

export const views = entityViews({
  noun: 'certificate',
  title: 'Certificate',
  plural: 'Certificates',
  collection: 'certificates',
  apiPath: '/certificates',
  nameKey: 'name',
  nameLabel: 'Name',
  nameOf: (certificate) => certificate.name,
  newLabel: 'New certificate',
  emptyText: 'No certificates yet',
  columns: [
    {label: 'SNIs', value: snisNode},
    {label: 'Expires', value: expiryNode},
    {label: 'Key', value: (certificate) => certificate.key_type},
  ],
  details: (certificate) => [
    {keys: ['snis', 'default'], label: 'SNIs', value: snisNode(certificate)},
    {keys: ['subject'], label: 'Subject', value: certificate.subject},
    {keys: ['issuer'], label: 'Issuer', value: certificate.issuer},
    {keys: ['not_before'], label: 'Valid from', value: formatTime(certificate.not_before)},
    {keys: ['not_after'], label: 'Expires', value: expiryNode(certificate)},
    {keys: ['key_type'], label: 'Key', value: certificate.key_type},
    {keys: ['fingerprint_sha256'], label: 'SHA-256 fingerprint',
      value: h('code', {class: 'fingerprint', text: certificate.fingerprint_sha256})},
    {keys: ['client_verify'], label: 'Client certificates',
      value: clientVerifyLabel(certificate.client_verify)},
    {keys: ['client_ca'], label: 'Client CA',
      value: certificate.client_ca ? h('pre', {text: certificate.client_ca}) : null},
    {keys: ['cert'], label: 'Certificate (PEM)',
      value: h('details', {}, h('summary', {text: 'Show'}), h('pre', {text: certificate.cert}))},
  ],
  sections: () => [h('p', {class: 'hint',
    text: 'The private key is stored sealed and is never shown; to change it, edit the ' +
      'certificate and paste the new key.'})],
  form: () => [
    textInput('name', 'Name', {hint: 'Letters, digits and . _ ~ -'}),
    pemInput('cert', 'Certificate (PEM)', {hint: 'The leaf certificate first, then its chain'}),
    pemInput('key', 'Private key (PEM)', {
      hint: 'Without a passphrase. Required for a new certificate; when editing, leave it ' +
        'empty to keep the stored key. It is never shown again.',
    }),
    listInput('snis', 'SNIs', {
      hint: 'Server names it is chosen for, one per line or comma separated; *.example.org ' +
        'covers one label',
    }),
    checkbox('default', 'Default certificate',
        {hint: 'Served when no SNI matches (one certificate at most)'}),
    select('client_verify', 'Client certificates', CLIENT_VERIFY),
    pemInput('client_ca', 'Client CA (PEM)',
        {hint: 'The CAs client certificates must chain to; needed unless not asked for'}),
    tagsInput(),
  ],
});
