// History: every configuration version (GET /config/history), what each one changed
// (GET /config/history/{v}), and rolling the configuration back to one of them.

import {api} from '../api.js';
import {confirmDialog, formatTime, h, replace, toast} from '../dom.js';
import {navigate, pathTo} from '../router.js';

const PAGE_SIZE = 50;

// The UI page of each entity type history records (API keys have none of their own).
const ENTITY_PAGES = {service: 'services', route: 'routes', consumer: 'consumers',
  rate_limit_policy: 'policies', certificate: 'certificates'};
const ENTITY_NAMES = {service: 'Service', route: 'Route', consumer: 'Consumer',
  rate_limit_policy: 'Rate-limit policy', api_key: 'API key', certificate: 'Certificate'};

export const views = [
  {path: '/history', title: 'History', nav: 'history', render: renderHistory},
  {path: '/history/:version', title: 'Version', nav: 'history', render: renderVersion},
];

// ---- The list of versions ----

async function renderHistory(main) {
  const rows = h('tbody');
  const more = h('div', {class: 'actions'});
  const loadPage = async (after) => {
    const {data} = await api('GET', '/config/history', {query: {size: PAGE_SIZE, after}});
    const added = data.data.map(versionRow);
    rows.append(...added);
    replace(more, data.next ? olderButton(() => loadPage(data.next)) : null);
    // The button that asked for this page is gone: keyboard focus goes on at the first new row.
    if (after && added.length) added[0].querySelector('a').focus();
    return added.length;
  };

  main.append(h('h1', {text: 'History'}));
  if (await loadPage() === 0) {
    main.append(h('p', {class: 'empty', text: 'No changes yet: the configuration is empty.'}));
    return;
  }
  main.append(
      h('div', {class: 'table-wrap'},
          h('table', {'aria-label': 'Configuration versions'},
              h('thead', {}, h('tr', {},
                  ['Version', 'When', 'Who', 'What'].map((label) => h('th', {scope: 'col', text: label})))),
              rows)),
      more);
}

// "Show older versions": loads the next page, reporting a failure without losing what is shown.
function olderButton(loadNext) {
  const button = h('button', {type: 'button', text: 'Show older versions'});
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await loadNext();
    } catch (error) {
      button.disabled = false;
      if (error.status !== 401) toast(`Could not load older versions: ${error.message}`, 'error');
    }
  });
  return button;
}

function versionRow(entry) {
  return h('tr', {},
      h('td', {}, h('a', {href: `#${pathTo('history', entry.version)}`, text: entry.version})),
      h('td', {}, timeOf(entry.at)),
      h('td', {text: entry.actor}),
      h('td', {text: entry.summary}));
}

function timeOf(seconds) {
  return h('time', {datetime: new Date(seconds * 1000).toISOString(), text: formatTime(seconds)});
}

// ---- One version ----

async function renderVersion(main, {version}) {
  const {data: entry} = await api('GET', `/config/history/${encodeURIComponent(version)}`);
  document.title = `Version ${entry.version} · Turnpike`;
  const restore = h('button', {type: 'button', class: 'primary', text: `Restore version ${entry.version}`});
  restore.addEventListener('click', () => restoreVersion(entry.version, restore));

  main.append(
      h('p', {class: 'breadcrumb'}, h('a', {href: '#/history', text: 'All versions'})),
      h('h1', {text: `Version ${entry.version}`}),
      h('p', {text: entry.summary}),
      h('p', {class: 'hint'}, `By ${entry.actor} at `, timeOf(entry.at), '.'),
      h('div', {class: 'actions'}, restore),
      h('h2', {text: `Changes (${entry.changes.length})`}),
      ...(entry.changes.length ? entry.changes.map(changeSection) :
        [h('p', {class: 'empty', text: 'This version changed no entity.'})]));
}

async function restoreVersion(version, button) {
  const confirmed = await confirmDialog(
      `Restore the whole configuration to version ${version}? ` +
      'This is recorded as a new version, so it can be undone the same way.',
      {confirmLabel: 'Restore'});
  if (!confirmed) return;
  button.disabled = true;
  try {
    const {data} = await api('POST', `/config/history/${encodeURIComponent(version)}/restore`);
    toast(`Restored version ${version} as version ${data.version}.`, 'success');
    navigate('/history');
  } catch (error) {
    button.disabled = false;
    if (error.status !== 401) toast(`Could not restore version ${version}: ${error.message}`, 'error');
  }
}

// ---- One change: before and after ----

// The entity's name as it was (after a delete) or is (otherwise); the id when it has none.
function entityLabel(change) {
  const body = change.after ?? change.before ?? {};
  return body.name ?? body.username ?? body.prefix ?? change.entity_id;
}

function changeSection(change) {
  const page = ENTITY_PAGES[change.entity_type];
  const label = entityLabel(change);
  // A deleted entity has no page any more.
  const title = page && change.action !== 'delete' ?
    h('a', {href: `#${pathTo(page, change.entity_id)}`, text: label}) : label;
  const diff = keyDiff(change.before, change.after);
  return h('section', {class: 'change'},
      h('h3', {},
          h('span', {class: `badge action-${change.action}`, text: change.action}), ' ',
          `${ENTITY_NAMES[change.entity_type] ?? change.entity_type} `, title),
      h('p', {class: 'hint'}, 'ID ', h('code', {text: change.entity_id}),
          diff.size ? `. Fields that differ: ${[...diff.keys()].join(', ')}.` : null),
      h('div', {class: 'before-after'},
          jsonBlock('Before', change.before, diff, 'None: created in this version.'),
          jsonBlock('After', change.after, diff, 'None: deleted in this version.')));
}

// For an update, each top-level key that differs: 'changed', 'added' or 'removed'. A create or
// a delete differs everywhere, so it gets no highlights.
function keyDiff(before, after) {
  const diff = new Map();
  if (!before || !after) return diff;
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (!(key in after)) diff.set(key, 'removed');
    else if (!(key in before)) diff.set(key, 'added');
    else if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) diff.set(key, 'changed');
  }
  return diff;
}

// `value` pretty-printed as JSON, each top-level key in `diff` wrapped in a .diff-<kind> span.
function jsonBlock(heading, value, diff, absent) {
  const block = h('div', {class: 'json-side'}, h('h4', {text: heading}));
  if (value === null || value === undefined) {
    block.append(h('p', {class: 'empty', text: absent}));
    return block;
  }
  const keys = Object.keys(value);
  const lines = keys.map((key, index) => {
    const pretty = JSON.stringify(value[key], null, 2).replaceAll('\n', '\n  ');
    const text = `  ${JSON.stringify(key)}: ${pretty}${index < keys.length - 1 ? ',' : ''}\n`;
    return diff.has(key) ? h('span', {class: `diff-${diff.get(key)}`, text}) : text;
  });
  block.append(h('pre', {class: 'json'}, '{\n', lines, '}'));
  return block;
}
