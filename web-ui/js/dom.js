// Small DOM helpers shared by every view. No innerHTML with data: text goes in as text nodes,
// so names and values from the API can never become markup (and the CSP forbids inline code).

// h('button', {class: 'primary', onclick: fn, type: 'button'}, 'Save') -> HTMLButtonElement.
// attrs: `class`, `text`, `on<event>` handlers, `dataset` object, boolean attributes (true adds,
// false/null/undefined omits), anything else via setAttribute. Children: nodes, strings, numbers,
// arrays of those; null/undefined/false are skipped.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') el.className = value;
    else if (name === 'text') el.textContent = value;
    else if (name === 'dataset') Object.assign(el.dataset, value);
    else if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'value' && 'value' in el) el.value = value;
    else if (name === 'checked' || name === 'selected') el[name] = Boolean(value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

// Replaces everything inside `el` with `children`.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let idCounter = 0;
export function uniqueId(prefix = 'f') {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

// A labelled form field. `control` is an input/select/textarea; `field` is the API field name it
// edits ("targets[0].url"): validation errors naming that field are shown right under it.
// field('Name', h('input', {name: 'name'}), {field: 'name', hint: 'Unique'}) -> <div class="field">.
export function field(label, control, {field: apiField, hint} = {}) {
  if (!control.id) control.id = uniqueId('in');
  if (apiField) control.dataset.field = apiField;
  const wrapper = h('div', {class: 'field'}, h('label', {for: control.id, text: label}), control);
  if (hint) {
    const hintId = uniqueId('hint');
    wrapper.appendChild(h('p', {class: 'hint', id: hintId, text: hint}));
    control.setAttribute('aria-describedby', hintId);
  }
  if (apiField) wrapper.dataset.field = apiField;
  return wrapper;
}

// Removes the errors showFieldErrors() put into `form`.
export function clearFieldErrors(form) {
  for (const el of form.querySelectorAll('.field-error, .form-errors > *')) el.remove();
  for (const el of form.querySelectorAll('[aria-invalid]')) {
    el.removeAttribute('aria-invalid');
    const described = (el.getAttribute('aria-describedby') || '')
        .split(' ').filter((id) => id && !id.startsWith('err-'));
    if (described.length) el.setAttribute('aria-describedby', described.join(' '));
    else el.removeAttribute('aria-describedby');
  }
}

// "targets[0].url" -> ["targets[0].url", "targets[0]", "targets"]: the field itself, then each
// enclosing field, so an error lands on the closest control the form has.
function fieldCandidates(name) {
  const out = [name];
  let current = name;
  while (true) {
    const cut = Math.max(current.lastIndexOf('.'), current.lastIndexOf('['));
    if (cut <= 0) break;
    current = current.slice(0, cut);
    out.push(current);
  }
  return out;
}

// Shows an ApiError in `form`: each {field, message} under the control whose data-field names it
// (or its closest enclosing field); the rest, and the problem's detail, in the form's
// `.form-errors` box (created at the top when missing). Focuses the first invalid control.
export function showFieldErrors(form, error) {
  clearFieldErrors(form);
  let box = form.querySelector('.form-errors');
  if (!box) {
    box = h('div', {class: 'form-errors', role: 'alert'});
    form.prepend(box);
  }
  let firstInvalid = null;
  const unplaced = [];
  for (const {field: name, message} of error.fieldErrors || []) {
    const target = fieldCandidates(name)
        .map((candidate) => form.querySelector(`[data-field="${CSS.escape(candidate)}"]`))
        .find(Boolean);
    if (!target) {
      unplaced.push(`${name}: ${message}`);
      continue;
    }
    const control = target.matches('input, select, textarea') ? target :
        target.querySelector('input, select, textarea');
    const wrapper = target.closest('.field') || target;
    const errorId = uniqueId('err');
    const text = name === target.dataset.field ? message : `${name}: ${message}`;
    wrapper.appendChild(h('p', {class: 'field-error', id: errorId, text}));
    if (control) {
      control.setAttribute('aria-invalid', 'true');
      const described = control.getAttribute('aria-describedby');
      control.setAttribute('aria-describedby', described ? `${described} ${errorId}` : errorId);
      firstInvalid ??= control;
    }
  }
  if (unplaced.length || !error.fieldErrors?.length) {
    box.appendChild(h('p', {text: error.message}));
    for (const line of unplaced) box.appendChild(h('p', {text: line}));
  }
  (firstInvalid || box).focus?.();
}

// A modal yes/no question in a native <dialog> (focus is trapped and Escape cancels).
// Resolves true when the operator confirms.
export function confirmDialog(message, {confirmLabel = 'Confirm', danger = false} = {}) {
  return new Promise((resolve) => {
    const dialog = h('dialog', {class: 'confirm', 'aria-label': message},
        h('form', {method: 'dialog'},
            h('p', {text: message}),
            h('div', {class: 'actions'},
                h('button', {value: 'cancel', type: 'submit', text: 'Cancel'}),
                h('button', {value: 'ok', type: 'submit', class: danger ? 'danger' : 'primary',
                  text: confirmLabel}))));
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'ok');
      dialog.remove();
    });
    document.body.appendChild(dialog);
    dialog.showModal();
  });
}

// A short message in the live region at the bottom of the page (announced by screen readers).
export function toast(message, kind = 'info') {
  let region = document.getElementById('toasts');
  if (!region) {
    region = h('div', {id: 'toasts', role: 'status', 'aria-live': 'polite'});
    document.body.appendChild(region);
  }
  const item = h('p', {class: `toast ${kind}`, text: message});
  region.appendChild(item);
  setTimeout(() => item.remove(), 5000);
}

// Unix seconds -> "2026-11-28 21:05:03" in the browser's time zone; null -> "—".
export function formatTime(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  const d = new Date(seconds * 1000);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// "a, b,,c" -> ["a", "b", "c"]; also splits on newlines.
export function splitList(text) {
  return String(text || '').split(/[,\n]/).map((s) => s.trim()).filter(Boolean);
}
