// Rate-limit policies (UI path /policies, API path /rate-limit-policies).

import {entityViews} from './entity_pages.js';
import {fieldRow, numberInput, select, tagsInput, textInput} from '../forms.js';

const ALGORITHMS = [
  ['sliding_window', 'Sliding window'],
  ['fixed_window', 'Fixed window'],
  ['token_bucket', 'Token bucket'],
];

const algorithmLabel = (value) => new Map(ALGORITHMS).get(value) ?? value;

const limitText = (policy) => `${policy.limit} per ${policy.window_s} s`;

export const views = entityViews({
  noun: 'rate-limit policy',
  title: 'Rate-limit policy',
  plural: 'Rate-limit policies',
  collection: 'policies',
  apiPath: '/rate-limit-policies',
  nameKey: 'name',
  nameLabel: 'Name',
  nameOf: (policy) => policy.name,
  newLabel: 'New policy',
  emptyText: 'No rate-limit policies yet',
  columns: [
    {label: 'Limit', value: limitText},
    {label: 'Algorithm', value: (policy) => algorithmLabel(policy.algorithm)},
    {label: 'Key by', value: (policy) => policy.key_by},
  ],
  details: (policy) => [
    {keys: ['limit', 'window_s'], label: 'Limit', value: limitText(policy)},
    {keys: ['algorithm'], label: 'Algorithm', value: algorithmLabel(policy.algorithm)},
    {keys: ['burst'], label: 'Burst', value: policy.burst},
    {keys: ['key_by'], label: 'Key by', value: policy.key_by},
  ],
  form: () => [
    textInput('name', 'Name', {hint: 'Letters, digits and . _ ~ -'}),
    fieldRow([
      numberInput('limit', 'Limit', {hint: 'Requests allowed per window'}),
      numberInput('window_s', 'Window (s)', {hint: 'Default 60'}),
    ]),
    fieldRow([
      select('algorithm', 'Algorithm', ALGORITHMS),
      numberInput('burst', 'Burst', {hint: 'Token bucket only: extra requests at once; default 0'}),
    ]),
    textInput('key_by', 'Key by', {
      hint: 'What is counted separately: consumer (default), api_key, ip, route or header:<name>',
      suggestions: ['consumer', 'api_key', 'ip', 'route', 'header:'],
    }),
    tagsInput(),
  ],
});
