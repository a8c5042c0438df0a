// The app shell: signs the operator in and out, and renders the view the URL's hash names into
// <main> (see router.js for the view contract).

import {ApiError, onUnauthorized, token} from './api.js';
import {h, replace} from './dom.js';
import {currentPath, matchView} from './router.js';
import {renderSignIn} from './views/signin.js';
import {views as dashboardViews} from './views/dashboard.js';
import {views as serviceViews} from './views/services.js';
import {views as routeViews} from './views/routes.js';
import {views as consumerViews} from './views/consumers.js';
import {views as policyViews} from './views/policies.js';
import {views as certificateViews} from './views/certificates.js';
import {views as explainViews} from './views/explain.js';
import {views as historyViews} from './views/history.js';

const allViews = [
  ...dashboardViews, ...serviceViews, ...routeViews, ...consumerViews, ...policyViews,
  ...certificateViews, ...explainViews, ...historyViews,
];

const notFoundView = {
  title: 'Not found',
  render(main) {
    main.append(
        h('h1', {text: 'Not found'}),
        h('p', {}, 'There is no page at ', h('code', {text: currentPath()}), '.'),
        h('p', {}, h('a', {href: '#/', text: 'Go to the dashboard'})));
  },
};

const main = document.getElementById('main');
const nav = document.querySelector('nav[aria-label="Main"]');
const signOutButton = document.getElementById('sign-out');

let signedIn = false;
let cleanup = null;  // the shown view's cleanup (stops its timers)
let renderCount = 0;  // identifies the latest render, so a slow earlier one cannot land

function runCleanup() {
  const pending = cleanup;
  cleanup = null;
  pending?.();
}

// The nav entry a view belongs to: its `nav`, else its path's first segment ('/' -> dashboard).
function navKeyOf(view) {
  return view.nav ?? (view.path?.split('/')[1] || 'dashboard');
}

function markNav(view) {
  const key = view === notFoundView ? null : navKeyOf(view);
  for (const link of nav.querySelectorAll('a[data-nav]')) {
    if (link.dataset.nav === key) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

// Focus goes to the new page's heading, so keyboard and screen-reader users start there.
function focusHeading() {
  const heading = main.querySelector('h1');
  if (!heading) {
    main.focus();
    return;
  }
  heading.tabIndex = -1;
  heading.focus();
}

function showRenderError(outlet, view, error) {
  if (!outlet.querySelector('h1')) outlet.prepend(h('h1', {text: view.title}));
  const notFound = error.status === 404;
  // Only a network failure, a server error or a bug in the page may go away on a second try.
  const retryable = !error.status || error.status >= 500;
  outlet.append(
      h('div', {class: 'form-errors', role: 'alert'},
          h('p', {text: notFound ? `Not found: ${error.message}` :
                                   `This page could not be shown: ${error.message}`})),
      h('div', {class: 'actions'},
          retryable ? h('button', {type: 'button', text: 'Try again', onclick: renderRoute}) : null,
          h('a', {class: 'button', href: '#/', text: 'Go to the dashboard'})));
}

// The view for `path`: {view, params}; the "Not found" view when none matches.
function findView(path) {
  return matchView(allViews, path) ?? {view: notFoundView, params: {}};
}

// Renders the view for the current hash. Each render gets a fresh outlet inside <main>: a render
// still awaiting the API when the operator moves on writes into a detached element, never into
// the page that replaced it.
async function renderRoute() {
  if (!signedIn) return;
  runCleanup();
  const ticket = ++renderCount;
  const {view, params} = findView(currentPath());
  const outlet = h('div', {class: 'view'});
  replace(main, outlet);
  document.title = `${view.title} · Turnpike`;
  markNav(view);
  window.scrollTo(0, 0);
  try {
    const viewCleanup = await view.render(outlet, params);
    const isFunction = typeof viewCleanup === 'function';
    if (ticket !== renderCount) {  // the operator has moved on meanwhile
      if (isFunction) viewCleanup();
      return;
    }
    if (isFunction) cleanup = viewCleanup;
  } catch (error) {
    // A 401 has already signed the operator out (onUnauthorized); nothing to show here.
    if (ticket !== renderCount || error.status === 401) return;
    if (!(error instanceof ApiError)) console.error(error);  // a bug in the page: keep its stack
    showRenderError(outlet, view, error);
  }
  focusHeading();
}

function setSignedIn(value) {
  signedIn = value;
  nav.hidden = !value;
  signOutButton.hidden = !value;
}

function showApp() {
  setSignedIn(true);
  renderRoute();
}

function showSignIn(message) {
  setSignedIn(false);
  renderCount += 1;  // a render still in flight must not land on the sign-in page
  document.title = 'Sign in · Turnpike';
  renderSignIn(main, {message, onSignedIn: showApp});
}

// `message` explains why (shown above the form). The hash is kept when the session ended, so
// signing in again returns to the same page.
function signOut(message) {
  if (!signedIn) return;
  runCleanup();
  token.clear();
  showSignIn(message);
}

signOutButton.addEventListener('click', () => {
  // A deliberate sign-out starts the next session on the dashboard.
  history.replaceState(null, '', '#/');
  signOut();
});
onUnauthorized(() => signOut('Your session ended: sign in again.'));
window.addEventListener('hashchange', renderRoute);

if (token.get()) showApp();
else showSignIn();
