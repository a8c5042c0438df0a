// Consumers: who calls, and their API keys. A new key's secret is shown once, from the POST
// answer, and is never stored by the page: it lives only in the DOM until the operator leaves.

import {api, listAll, ApiError} from '../api.js';
import {
  h, field, replace, showFieldErrors, clearFieldErrors, confirmDialog, toast, formatTime, uniqueId,
} from '../dom.js';
import {entityViews, errorBox, refLink} from './entity_pages.js';
import {apiChoice, listInput, tagsInput, textInput} from '../forms.js';

export const views = entityViews({
  noun: 'consumer',
  title: 'Consumer',
  plural: 'Consumers',
  collection: 'consumers',
  apiPath: '/consumers',
  nameKey: 'username',
  nameLabel: 'Username',
  nameOf: (consumer) => consumer.username,
  newLabel: 'New consumer',
  emptyText: 'No consumers yet',
  lookups: {policies: '/rate-limit-policies'},
  columns: [
    {label: 'Custom ID', value: (consumer) => consumer.custom_id},
    {label: 'Groups', value: (consumer) => consumer.groups.join(', ')},
  ],
  details: (consumer, refs) => [
    {keys: ['custom_id'], label: 'Custom ID', value: consumer.custom_id},
    {keys: ['groups'], label: 'Groups', value: consumer.groups},
    {keys: ['rate_limit_policies'], label: 'Rate-limit policies',
      value: consumer.rate_limit_policies.map((id) => refLink('policies', refs.policies, id))},
  ],
  sections: (consumer) => [keysSection(consumer)],
  form: () => [
    textInput('username', 'Username', {hint: 'Letters, digits and . _ ~ - @'}),
    textInput('custom_id', 'Custom ID', {hint: 'Optional: this consumer\'s id in another system'}),
    listInput('groups', 'Groups', {
      hint: 'Checked against routes\' allow groups; one per line or comma separated',
    }),
    apiChoice('rate_limit_policies', 'Rate-limit policies', {
      path: '/rate-limit-policies', labelOf: (policy) => policy.name, multiple: true,
      emptyText: 'No rate-limit policies yet',
    }),
    tagsInput(),
  ],
});

// ---- API keys -------------------------------------------------------------------------------

function keysSection(consumer) {
  const keysPath = `/consumers/${encodeURIComponent(consumer.id)}/keys`;
  const headingId = uniqueId('keys');
  const expires = h('input', {type: 'datetime-local', name: 'expires_at'});
  const createButton = h('button', {type: 'submit', class: 'primary', text: 'Create key'});
  const form = h('form', {class: 'key-form', novalidate: true},
      field('Expires at', expires, {
        field: 'expires_at', hint: 'Optional, in your time zone; empty: never',
      }),
      h('div', {class: 'actions'}, createButton));
  const newKey = h('div');
  const list = h('div');
  let shownKeyId = null;

  const refresh = async () => {
    try {
      const keys = await listAll(keysPath);
      replace(list, keys.length ? keysTable(keys, revoke) :
        h('p', {class: 'empty', text: 'No API keys yet'}));
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      replace(list, errorBox(error.message));
    }
  };

  const revoke = async (key) => {
    const confirmed = await confirmDialog(
        `Revoke key ${key.prefix}? Requests using it are refused at once.`,
        {confirmLabel: 'Revoke', danger: true});
    if (!confirmed) return;
    try {
      await api('DELETE', `${keysPath}/${encodeURIComponent(key.id)}`);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      toast(`Could not revoke key ${key.prefix}: ${error.message}`, 'error');
      return;
    }
    toast(`Revoked key ${key.prefix}`, 'success');
    if (shownKeyId === key.id) replace(newKey);
    await refresh();
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearFieldErrors(form);
    // A half-typed date reads as '' and would silently make a key that never expires.
    if (expires.validity.badInput) {
      showFieldErrors(form,
          {fieldErrors: [{field: 'expires_at', message: 'is not a complete date and time'}]});
      return;
    }
    createButton.disabled = true;
    try {
      const {data} = await api('POST', keysPath, {body: newKeyBody(expires.value)});
      shownKeyId = data.id;
      replace(newKey, newKeyPanel(data));
      // Straight to the one thing to do next: copying the key.
      newKey.querySelector('button').focus();
      expires.value = '';
      await refresh();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      showFieldErrors(form, error);
    } finally {
      createButton.disabled = false;
    }
  });

  refresh();
  return h('section', {'aria-labelledby': headingId},
      h('h2', {id: headingId, text: 'API keys'}), form, newKey, list);
}

// datetime-local gives local wall-clock time; the API wants Unix seconds.
function newKeyBody(expiresAt) {
  return expiresAt ? {expires_at: Math.floor(new Date(expiresAt).getTime() / 1000)} : {};
}

function newKeyPanel(key) {
  const output = h('output', {class: 'key-value', text: key.key});
  return h('div', {class: 'new-key', role: 'region', 'aria-label': 'New API key'},
      h('p', {class: 'warning',
        text: 'This key will not be shown again. Copy it now and keep it somewhere safe.'}),
      h('div', {class: 'key-row'}, output,
          h('button', {type: 'button', text: 'Copy key', onclick: () => copyKey(output)})));
}

// The clipboard API needs a secure context (https or localhost) and permission; without it the
// key is selected so the operator can copy it by hand.
async function copyKey(output) {
  try {
    await navigator.clipboard.writeText(output.textContent);
    toast('Key copied to the clipboard', 'success');
  } catch {
    const range = document.createRange();
    range.selectNodeContents(output);
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
    toast('The key is selected: copy it with Ctrl+C (⌘C on a Mac)');
  }
}

function keysTable(keys, revoke) {
  const headers = ['Prefix', 'Created', 'Expires', 'Actions'];
  return h('div', {class: 'table-wrap'},
      h('table', {class: 'entity-table'},
          h('thead', {}, h('tr', {}, headers.map((text) => h('th', {scope: 'col', text})))),
          h('tbody', {}, keys.map((key) => keyRow(key, revoke)))));
}

function keyRow(key, revoke) {
  const expired = key.expires_at !== null && key.expires_at <= Date.now() / 1000;
  return h('tr', {},
      h('td', {}, h('code', {text: key.prefix})),
      h('td', {text: formatTime(key.created_at)}),
      h('td', {},
          key.expires_at === null ? 'Never' : formatTime(key.expires_at),
          expired ? [' ', h('span', {class: 'badge danger', text: 'expired'})] : null),
      h('td', {},
          h('button', {type: 'button', class: 'danger', text: 'Revoke',
            'aria-label': `Revoke key ${key.prefix}`, onclick: () => revoke(key)})));
}
