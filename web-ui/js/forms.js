// Form widgets for the entity pages, and the create/edit page built from them.
//
// A widget edits one API field, named by its dotted path ("name", "auth.key_names",
// "health_check.interval_ms"); that name is also the control's data-field, so validation errors
// from the API land under it. A widget is
//   {name, node, read() -> value or undefined, write(value), load?() -> Promise}
// read() returns undefined for an empty optional field: the field is then left out of the body
// and the API's default applies. Containers ({node, children}) group widgets; a toggle group
// also has a name and leaves its whole object out when unchecked.

import {api, listAll, ApiError} from './api.js';
import {h, field, replace, showFieldErrors, splitList, toast, uniqueId} from './dom.js';
import {currentPath, navigate, pathTo} from './router.js';

// A value the browser could not parse (e.g. "1e" in a number input); shown like an API error.
class InputError extends Error {
  constructor(name, message) {
    super(message);
    this.fieldErrors = [{field: name, message}];
  }
}

// ---- Widgets ---------------------------------------------------------------------------------

// A one-line text field. `suggestions` offers values in a <datalist> without restricting input.
export function textInput(name, label, {hint, suggestions} = {}) {
  const input = h('input', {type: 'text', name, autocomplete: 'off', spellcheck: 'false'});
  const node = field(label, input, {field: name, hint});
  if (suggestions) {
    const list = h('datalist', {id: uniqueId('list')},
        suggestions.map((value) => h('option', {value})));
    input.setAttribute('list', list.id);
    node.appendChild(list);
  }
  return {
    name, node,
    read: () => input.value.trim() || undefined,
    write: (value) => { input.value = value ?? ''; },
  };
}

// An integer field that sends a JSON number. The form has novalidate, so the API's range
// checks are the ones the operator sees.
export function numberInput(name, label, {hint} = {}) {
  const input = h('input', {type: 'number', name, step: 1, inputmode: 'numeric'});
  return {
    name,
    node: field(label, input, {field: name, hint}),
    read: () => {
      if (input.validity.badInput) throw new InputError(name, 'must be a number');
      return input.value === '' ? undefined : Number(input.value);
    },
    write: (value) => { input.value = value ?? ''; },
  };
}

// A checkbox; `initial` is its state on a new entity (the API's default for the field).
export function checkbox(name, label, {hint, initial = false} = {}) {
  const input = h('input', {type: 'checkbox', name});
  return {
    name,
    node: field(label, input, {field: name, hint}),
    read: () => input.checked,
    write: (value) => { input.checked = value ?? initial; },
  };
}

// A PEM text field (certificates, keys, CA bundles): pasted into the textarea, or read from a
// file into it. Empty: left out of the body (for a certificate's key: the stored key is kept).
export function pemInput(name, label, {hint} = {}) {
  const input = h('textarea', {name, rows: 6, spellcheck: 'false', autocomplete: 'off',
    class: 'pem'});
  const file = h('input', {type: 'file', accept: '.pem,.crt,.cer,.key,text/plain',
    'aria-label': `${label}: read from a file`});
  file.addEventListener('change', async () => {
    const [chosen] = file.files;
    if (chosen) input.value = await chosen.text();
    file.value = '';
  });
  const node = field(label, input, {field: name, hint});
  node.appendChild(h('div', {class: 'file-pick'}, h('span', {class: 'hint', text: 'Or from a file:'}),
      file));
  return {
    name, node,
    read: () => (input.value.trim() ? input.value : undefined),
    write: (value) => { input.value = value ?? ''; },
  };
}

// A <select> of [value, label] pairs. A stored value the list does not know is added as its
// own option, so saving keeps it rather than silently switching to the first option.
export function select(name, label, options, {hint, placeholder} = {}) {
  const control = h('select', {name});
  const setOptions = (pairs) => replace(control,
      placeholder === undefined ? null : h('option', {value: '', text: placeholder}),
      pairs.map(([value, text]) => h('option', {value, text})));
  setOptions(options);
  return {
    name,
    node: field(label, control, {field: name, hint}),
    read: () => control.value || undefined,
    write: (value) => {
      if (value === undefined || value === null) return;
      const known = [...control.options].some((option) => option.value === value);
      if (!known) control.appendChild(h('option', {value, text: value}));
      control.value = value;
    },
    setOptions,
  };
}

// An array of strings edited as the text of `control`. It remembers the items it last sent, so
// an error on one of them ("paths[1]") can name the item rather than its index.
function stringList(name, node, control, split, join) {
  let sent = [];
  return {
    name, node,
    read: () => {
      sent = split(control.value);
      return sent.length ? sent : undefined;
    },
    write: (value) => { control.value = join(value || []); },
    itemText: (index) => sent[index],
  };
}

const splitLines = (text) => text.split('\n').map((s) => s.trim()).filter(Boolean);

// A list of strings in a textarea: one per line, or also comma separated unless `lines` (paths
// may be regexes, where a comma is part of the value).
export function listInput(name, label, {hint, lines = false} = {}) {
  const input = h('textarea', {name, rows: 3, spellcheck: 'false', autocomplete: 'off'});
  const node = field(label, input, {
    field: name,
    hint: hint ?? (lines ? 'One per line' : 'One per line or comma separated'),
  });
  return stringList(name, node, input, lines ? splitLines : splitList, (items) => items.join('\n'));
}

// Tags: one comma-separated line (a tag cannot contain a comma).
export function tagsInput() {
  const input = h('input', {type: 'text', name: 'tags', autocomplete: 'off', spellcheck: 'false'});
  const node = field('Tags', input, {field: 'tags', hint: 'Comma separated'});
  return stringList('tags', node, input, splitList, (items) => items.join(', '));
}

// "x-version: 1, 2" lines <-> {"x-version": ["1", "2"]}. A name given twice gets both lines'
// values; malformed lines are sent as they are so the API names what is wrong.
function parseHeaderLines(text) {
  const headers = new Map();  // not an object: any header name, even "__proto__", is a plain key
  for (const line of splitLines(text)) {
    const colon = line.indexOf(':');
    const name = (colon < 0 ? line : line.slice(0, colon)).trim();
    const values = colon < 0 ? [] : splitList(line.slice(colon + 1));
    headers.set(name, [...(headers.get(name) || []), ...values]);
  }
  return headers.size ? Object.fromEntries(headers) : undefined;
}

// A map of names to lists of values, edited as "name: v1, v2" lines.
export function headersInput(name, label) {
  const input = h('textarea', {name, rows: 3, spellcheck: 'false', autocomplete: 'off'});
  return {
    name,
    node: field(label, input, {field: name, hint: 'One "name: value, value" per line'}),
    read: () => parseHeaderLines(input.value),
    write: (value) => {
      input.value = Object.entries(value || {})
          .map(([header, values]) => `${header}: ${values.join(', ')}`).join('\n');
    },
  };
}

// An optional object edited as JSON text (a route's request_transform). Empty: the field is left
// out. Text that is not JSON is an InputError on the field, so nothing is sent; whether the value
// is well formed is the API's to say, and its errors ("request_transform.set_headers.host") land
// here as the closest field. Shown as the API returned it, defaults included.
export function jsonInput(name, label, {hint} = {}) {
  const input = h('textarea', {name, rows: 4, spellcheck: 'false', autocomplete: 'off'});
  return {
    name,
    node: field(label, input, {field: name, hint}),
    read: () => {
      const text = input.value.trim();
      if (!text) return undefined;
      try {
        return JSON.parse(text);
      } catch (error) {
        throw new InputError(name, `is not valid JSON: ${error.message}`);
      }
    },
    write: (value) => {
      input.value = value === undefined || value === null ? '' : JSON.stringify(value, null, 2);
      input.rows = Math.min(Math.max(input.value.split('\n').length, 4), 16);
    },
  };
}

// Repeatable rows of objects (a service's targets). `columns` is [{key, make(fieldName)}], each
// making a widget; its data-field is "<name>[<row>].<key>", renumbered when a row goes.
export function rowsEditor(name, legend, {columns, addLabel, removeLabel, hint}) {
  const rowsBox = h('div', {class: 'rows'});
  let rows = [];

  const renumber = () => rows.forEach((row, index) => {
    for (const {key, widget} of row.cells) {
      const fieldName = `${name}[${index}].${key}`;
      for (const el of [widget.node, ...widget.node.querySelectorAll('[data-field]')]) {
        el.dataset.field = fieldName;
      }
    }
  });

  const addRow = (item = {}) => {
    const cells = columns.map(({key, make}) => ({key, widget: make(`${name}[${rows.length}].${key}`)}));
    const row = {cells};
    row.node = h('div', {class: 'row'},
        cells.map(({widget}) => widget.node),
        h('button', {type: 'button', class: 'remove', text: removeLabel, onclick: () => {
          rows = rows.filter((other) => other !== row);
          row.node.remove();
          renumber();
        }}));
    for (const {key, widget} of cells) widget.write(item[key]);
    rows.push(row);
    rowsBox.appendChild(row.node);
    return row;
  };

  const hintNode = hint ? h('p', {class: 'hint', text: hint}) : null;
  const node = h('fieldset', {class: 'rows-editor', dataset: {field: name}},
      h('legend', {text: legend}), hintNode, rowsBox,
      h('button', {type: 'button', text: addLabel, onclick: () => {
        const row = addRow();
        row.cells[0].widget.node.querySelector('input, select, textarea')?.focus();
      }}));
  return {
    name, node,
    read: () => rows.map((row) => {
      const item = {};
      for (const {key, widget} of row.cells) {
        const value = widget.read();
        if (value !== undefined) item[key] = value;
      }
      return item;
    }),
    write: (value) => {
      rows = [];
      rowsBox.replaceChildren();
      // A new entity starts with one empty row to fill in.
      for (const item of value?.length ? value : [{}]) addRow(item);
    },
  };
}

// Layout only: a titled group of widgets editing fields of the same object.
export function section(legend, children) {
  return {
    node: h('fieldset', {class: 'form-section'}, h('legend', {text: legend}),
        children.map((child) => child.node)),
    children,
  };
}

// Layout only: widgets side by side where there is room.
export function fieldRow(children) {
  return {node: h('div', {class: 'form-row'}, children.map((child) => child.node)), children};
}

// An optional object (a service's health_check): a checkbox in the legend switches the whole
// object on or off; when off, its fields are disabled and the object is left out of the body.
export function toggleGroup(name, label, children) {
  const box = h('input', {type: 'checkbox', id: uniqueId('in'), dataset: {field: name}});
  const node = h('fieldset', {class: 'toggle-group', dataset: {field: name}},
      // Controls in a disabled fieldset's first legend stay enabled, so the box can switch back.
      h('legend', {}, box, h('label', {for: box.id, text: label})),
      children.map((child) => child.node));
  const sync = () => { node.disabled = !box.checked; };
  box.addEventListener('change', sync);
  return {
    name, node, children,
    read: () => box.checked,
    write: (value) => {
      box.checked = value !== undefined && value !== null;
      sync();
    },
  };
}

// A choice among entities listed by the API, sending their ids: one (a <select>) or, with
// `multiple`, several (a group of checkboxes labelled by name).
export function apiChoice(name, label,
    {path, labelOf, placeholder, hint, multiple = false, emptyText}) {
  if (!multiple) {
    const widget = select(name, label, [], {placeholder, hint});
    widget.load = async () => {
      const items = await listAll(path);
      widget.setOptions(items.map((item) => [item.id, labelOf(item)]));
    };
    return widget;
  }

  const list = h('div', {class: 'choices'});
  const node = h('fieldset', {class: 'choice-group', dataset: {field: name}},
      h('legend', {text: label}), list);
  const addChoice = (value, text) => {
    const box = h('input', {type: 'checkbox', value, id: uniqueId('in')});
    list.appendChild(h('div', {class: 'choice'}, box, h('label', {for: box.id, text})));
  };
  const boxes = () => [...list.querySelectorAll('input')];
  let sent = [];
  return {
    name, node,
    load: async () => {
      const items = await listAll(path);
      for (const item of items) addChoice(item.id, labelOf(item));
      if (!items.length) list.appendChild(h('p', {class: 'hint', text: emptyText}));
    },
    read: () => {
      sent = boxes().filter((box) => box.checked);
      return sent.length ? sent.map((box) => box.value) : undefined;
    },
    itemText: (index) => sent[index]?.labels[0].textContent,
    write: (values) => {
      for (const value of values || []) {
        // A reference the list no longer has still shows (by id) and is kept when saving.
        if (!boxes().some((box) => box.value === value)) addChoice(value, value);
        boxes().find((box) => box.value === value).checked = true;
      }
    },
  };
}

// ---- Reading and writing whole forms --------------------------------------------------------

function getPath(object, name) {
  return name.split('.').reduce((value, key) => (value == null ? undefined : value[key]), object);
}

function setPath(object, name, value) {
  const keys = name.split('.');
  const last = keys.pop();
  let target = object;
  for (const key of keys) {
    if (target[key] === null || typeof target[key] !== 'object') target[key] = {};
    target = target[key];
  }
  target[last] = value;
}

function deletePath(object, name) {
  const keys = name.split('.');
  const last = keys.pop();
  const parent = keys.length ? getPath(object, keys.join('.')) : object;
  if (parent && typeof parent === 'object') delete parent[last];
}

function* allWidgets(widgets) {
  for (const widget of widgets) {
    yield widget;
    if (widget.children) yield* allWidgets(widget.children);
  }
}

function fill(widgets, entity) {
  for (const widget of widgets) {
    if (widget.name) widget.write(getPath(entity, widget.name));
    if (widget.children) fill(widget.children, entity);
  }
}

// Writes the form's values over `body` (the entity as fetched, or {} for a new one), so fields
// the form does not show are kept as they were.
function overlay(body, widgets) {
  for (const widget of widgets) {
    if (widget.children) {
      if (widget.name) {
        if (!widget.read()) {
          deletePath(body, widget.name);
          continue;
        }
        // Switched on with every field empty: {} asks for the API's defaults.
        if (getPath(body, widget.name) == null) setPath(body, widget.name, {});
      }
      overlay(body, widget.children);
      continue;
    }
    const value = widget.read();
    if (value === undefined) deletePath(body, widget.name);
    else setPath(body, widget.name, value);
  }
  return body;
}

// ---- The create / edit page -----------------------------------------------------------------

// Renders the create form (no `id`) or the edit form of entity `id` for the entity kind `def`
// (see entity_pages.js). Edits PUT the whole fetched entity with the form's values over it,
// guarded by If-Match so a concurrent change is not overwritten.
export async function renderEntityForm(main, def, id) {
  const editing = id !== undefined;
  const current = editing ?
    await api('GET', `${def.apiPath}/${encodeURIComponent(id)}`) :
    {data: {}, etag: null};
  const widgets = def.form();
  await Promise.all([...allWidgets(widgets)].map((widget) => widget.load?.()));
  fill(widgets, current.data);

  const submitButton = h('button',
      {type: 'submit', class: 'primary', text: editing ? 'Save' : 'Create'});
  const cancelPath = editing ? pathTo(def.collection, current.data.id) : pathTo(def.collection);
  const form = h('form', {class: 'entity-form', novalidate: true},
      widgets.map((widget) => widget.node),
      h('div', {class: 'actions'}, submitButton, h('a', {href: `#${cancelPath}`, text: 'Cancel'})));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submitButton.disabled = true;
    try {
      await save(form, def, widgets, current, editing);
    } finally {
      submitButton.disabled = false;
    }
  });
  replace(main,
      h('h1', {text: editing ? `Edit ${def.noun} ${def.nameOf(current.data)}` : def.newLabel}),
      form);
}

async function save(form, def, widgets, current, editing) {
  try {
    const body = overlay(structuredClone(current.data), widgets);
    const {data} = editing ?
      await api('PUT', `${def.apiPath}/${encodeURIComponent(current.data.id)}`,
          {body, headers: {'If-Match': current.etag}}) :
      await api('POST', def.apiPath, {body});
    toast(`${editing ? 'Saved' : 'Created'} ${def.noun} ${def.nameOf(data)}`, 'success');
    navigate(pathTo(def.collection, data.id));
  } catch (error) {
    if (!(error instanceof ApiError || error instanceof InputError)) throw error;
    if (error.status === 412) showStale(form, def);
    else showFieldErrors(form, namingItems(widgets, error));
  }
}

// An error on one item of a list ("paths[1]: must start with '/'") is shown on the list's control
// naming the item as the operator typed it ("“bad”: must start with '/'").
function namingItems(widgets, error) {
  const lists = new Map([...allWidgets(widgets)].filter((w) => w.itemText).map((w) => [w.name, w]));
  const fieldErrors = error.fieldErrors.map(({field: name, message}) => {
    const [, list, index] = /^(.+)\[(\d+)\]$/.exec(name) ?? [];
    const item = lists.get(list)?.itemText(Number(index));
    if (item === undefined) return {field: name, message};
    return {field: list, message: `“${item}”: ${message}`};
  });
  return {message: error.message, fieldErrors};
}

// Someone else saved the entity after this form was filled: saving would undo their change.
function showStale(form, def) {
  showFieldErrors(form, {
    message: `This ${def.noun} was changed by someone else since you opened it; reload to edit ` +
      'the current version (your changes here will be lost).',
    fieldErrors: [],
  });
  const path = currentPath();
  form.querySelector('.form-errors').appendChild(
      h('button', {type: 'button', text: 'Reload', onclick: () => navigate(path)}));
}
