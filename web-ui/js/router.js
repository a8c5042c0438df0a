// Hash routing: "#/services/orders/edit" -> the view whose path is "/services/:id/edit".
// View modules export `views`, an array of
//   {path: '/services/:id', title: 'Service', nav: 'services', render: async (main, params) => {}}
// `render` fills `main` (already emptied) and may return a cleanup function, called when the
// operator leaves the view (to stop timers). `nav` names the navigation entry to highlight.

// Goes to `path` ("/services/orders"); the router renders it.
export function navigate(path) {
  const target = `#${path}`;
  if (window.location.hash === target) {
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else {
    window.location.hash = target;
  }
}

// The current path ("/services/orders"), "/" when there is no hash.
export function currentPath() {
  const hash = window.location.hash.replace(/^#/, '');
  return hash.startsWith('/') ? hash.split('?')[0] : '/';
}

// Finds the view for `path` among `views`: {view, params} or null (also for a malformed
// %-escape). Literal segments beat parameters ("/services/new" is not the service named "new").
export function matchView(views, path) {
  let segments;
  try {
    segments = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return null;  // URIError: no view has such a name
  }
  let best = null;
  for (const view of views) {
    const pattern = view.path.split('/').filter(Boolean);
    if (pattern.length !== segments.length) continue;
    const params = {};
    let literals = 0;
    let ok = true;
    for (let i = 0; i < pattern.length && ok; i += 1) {
      if (pattern[i].startsWith(':')) params[pattern[i].slice(1)] = segments[i];
      else if (pattern[i] === segments[i]) literals += 1;
      else ok = false;
    }
    if (ok && (!best || literals > best.literals)) best = {view, params, literals};
  }
  return best && {view: best.view, params: best.params};
}

// "/services/" + encoded name: the link to an entity whose name may hold any character.
export function pathTo(...segments) {
  return '/' + segments.map((s) => encodeURIComponent(String(s))).join('/');
}
