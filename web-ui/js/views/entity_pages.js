// The pages every entity kind shares: the list (search, tag filter, table) and the detail page
// (fields, Edit, Delete). services.js, routes.js, consumers.js and policies.js each describe
// their kind once and get their four views from entityViews():
//
//   {noun: 'service',             // in sentences: "Delete service orders?"
//    title: 'Service',            // document title of the detail page
//    plural: 'Services',          // list heading
//    collection: 'services',      // UI path segment (#/services) and the nav entry
//    apiPath: '/services',
//    nameKey: 'name', nameLabel: 'Name',  // the entity's name field and its column heading
//    nameOf: (e) => e.name,       // what headings, links and Search show
//    newLabel: 'New service', emptyText: 'No services yet',
//    lookups: {services: '/services'},   // other collections to resolve ids to names (refs)
//    columns: [{label, value(entity, refs)}],          // besides name and tags
//    details: (entity, refs) => [{keys, label, value}], // besides id, tags and timestamps
//    sections: (entity) => [nodes],                    // extra parts of the detail page
//    form: () => widgets}                              // see forms.js

import {api, listAll, ApiError} from '../api.js';
import {h, field, replace, confirmDialog, toast, formatTime, splitList} from '../dom.js';
import {navigate, pathTo} from '../router.js';
import {renderEntityForm} from '../forms.js';

const SEARCH_DELAY_MS = 250;

export function entityViews(def) {
  const base = `/${def.collection}`;
  const nav = def.collection;
  return [
    {path: base, title: def.plural, nav, render: (main) => renderList(main, def)},
    {path: `${base}/new`, title: def.newLabel, nav, render: (main) => renderEntityForm(main, def)},
    {path: `${base}/:id`, title: def.title, nav, render: (main, {id}) => renderDetail(main, def, id)},
    {path: `${base}/:id/edit`, title: `Edit ${def.noun}`, nav,
      render: (main, {id}) => renderEntityForm(main, def, id)},
  ];
}

// ---- Shared renderers for values ------------------------------------------------------------

// A value as page content: '—' when empty, Yes/No for booleans, a list for arrays.
export function valueNode(value) {
  if (value === null || value === undefined || value === '' ||
      (Array.isArray(value) && value.length === 0)) {
    return h('span', {class: 'none', text: '—'});
  }
  if (value instanceof Node) return value;
  if (typeof value === 'boolean') return value ? 'Yes' : 'No';
  if (Array.isArray(value)) {
    return h('ul', {class: 'plain'}, value.map((item) => h('li', {}, valueNode(item))));
  }
  return String(value);
}

function tagBadges(tags) {
  if (!tags?.length) return valueNode(null);
  return h('span', {class: 'tags'}, tags.map((tag) => h('span', {class: 'badge', text: tag})));
}

// A link to the entity `id` of `collection`, named from `known` (an id -> entity map); the bare
// id when the map does not have it.
export function refLink(collection, known, id) {
  const entity = known.get(id);
  return entity ? h('a', {href: `#${pathTo(collection, id)}`, text: entity.name}) : id;
}

export function errorBox(message) {
  return h('div', {class: 'form-errors', role: 'alert'}, h('p', {text: message}));
}

async function loadLookups(def) {
  const entries = await Promise.all(Object.entries(def.lookups || {}).map(async ([key, path]) =>
    [key, new Map((await listAll(path)).map((entity) => [entity.id, entity]))]));
  return Object.fromEntries(entries);
}

// ---- List -----------------------------------------------------------------------------------

async function renderList(main, def) {
  const search = h('input', {type: 'search', autocomplete: 'off'});
  const tags = h('input', {type: 'text', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'e.g. prod, team-a'});
  const results = h('div');
  replace(main,
      h('h1', {text: def.plural}),
      h('div', {class: 'toolbar'},
          field('Search', search),
          field('Tags', tags),
          h('a', {class: 'button primary', href: `#${pathTo(def.collection, 'new')}`,
            text: def.newLabel})),
      results);

  const refs = await loadLookups(def);
  let items = [];
  let filteredByTags = false;
  let loadCount = 0;

  const draw = () => {
    const query = search.value.trim().toLowerCase();
    const shown = items.filter((entity) => def.nameOf(entity).toLowerCase().includes(query));
    const filtered = query !== '' || filteredByTags;
    const emptyText = filtered ? `No ${def.plural.toLowerCase()} match` : def.emptyText;
    replace(results, shown.length ? entityTable(def, shown, refs) :
      h('p', {class: 'empty', text: emptyText}));
  };
  // Tags filter on the server (?tags=); a newer load wins over a slower older one.
  const load = async () => {
    const mine = ++loadCount;
    const tagList = splitList(tags.value);
    try {
      const loaded = await listAll(def.apiPath, {tags: tagList.join(',')});
      if (mine !== loadCount) return;
      items = loaded;
      filteredByTags = tagList.length > 0;
      draw();
    } catch (error) {
      if (!(error instanceof ApiError) || mine !== loadCount) throw error;
      replace(results, errorBox(error.message));
    }
  };

  let timer;
  search.addEventListener('input', draw);
  tags.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(load, SEARCH_DELAY_MS);
  });
  await load();
  return () => clearTimeout(timer);
}

function entityTable(def, entities, refs) {
  const headers = [def.nameLabel, ...def.columns.map((column) => column.label), 'Tags'];
  return h('div', {class: 'table-wrap'},
      h('table', {class: 'entity-table'},
          h('thead', {}, h('tr', {}, headers.map((text) => h('th', {scope: 'col', text})))),
          h('tbody', {}, entities.map((entity) => h('tr', {},
              h('th', {scope: 'row'},
                  h('a', {href: `#${pathTo(def.collection, entity.id)}`, text: def.nameOf(entity)})),
              def.columns.map((column) => h('td', {}, valueNode(column.value(entity, refs)))),
              h('td', {}, tagBadges(entity.tags)))))));
}

// ---- Detail ---------------------------------------------------------------------------------

const COMMON_KEYS = ['id', 'tags', 'created_at', 'updated_at'];

async function renderDetail(main, def, id) {
  const [{data: entity, etag}, refs] = await Promise.all([
    api('GET', `${def.apiPath}/${encodeURIComponent(id)}`),
    loadLookups(def),
  ]);
  const alert = h('div');
  replace(main,
      h('h1', {text: def.nameOf(entity)}),
      h('div', {class: 'actions'},
          h('button', {type: 'button', text: 'Edit',
            onclick: () => navigate(pathTo(def.collection, entity.id, 'edit'))}),
          h('button', {type: 'button', class: 'danger', text: 'Delete',
            onclick: () => deleteEntity(def, entity, etag, alert)})),
      alert,
      detailList(def, entity, refs),
      def.sections?.(entity) ?? []);
}

// Every field of the entity: the kind's own rows, then any field they do not cover (e.g. one a
// newer API added) as JSON, so nothing stored is hidden from the operator.
function detailList(def, entity, refs) {
  const rows = def.details(entity, refs);
  const shown = new Set([def.nameKey, ...COMMON_KEYS, ...rows.flatMap((row) => row.keys)]);
  const others = Object.keys(entity)
      .filter((key) => !shown.has(key) && entity[key] !== null)
      .map((key) => ({label: key, value: h('pre', {text: JSON.stringify(entity[key], null, 2)})}));
  const all = [
    {label: 'ID', value: h('code', {text: entity.id})},
    ...rows, ...others,
    {label: 'Tags', value: tagBadges(entity.tags)},
    {label: 'Created', value: formatTime(entity.created_at)},
    {label: 'Updated', value: formatTime(entity.updated_at)},
  ];
  return h('dl', {class: 'details'},
      all.map(({label, value}) => h('div', {}, h('dt', {text: label}), h('dd', {}, valueNode(value)))));
}

async function deleteEntity(def, entity, etag, alert) {
  const name = def.nameOf(entity);
  const confirmed = await confirmDialog(`Delete ${def.noun} ${name}?`,
      {confirmLabel: 'Delete', danger: true});
  if (!confirmed) return;
  try {
    await api('DELETE', `${def.apiPath}/${encodeURIComponent(entity.id)}`,
        {headers: {'If-Match': etag}});
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    replace(alert, errorBox(error.status === 412 ?
      `This ${def.noun} was changed by someone else since you opened it; reload before deleting it.` :
      error.message));
    return;
  }
  toast(`Deleted ${def.noun} ${name}`, 'success');
  navigate(pathTo(def.collection));
}
