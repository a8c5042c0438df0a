// The admin API client: every call the UI makes goes through api(). The admin token lives in
// sessionStorage (gone when the tab closes; signOut() clears it). Errors are ApiError values
// carrying the RFC 9457 problem and its field errors.

const TOKEN_KEY = 'turnpike.admin_token';

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

// A non-2xx answer (or a network failure: status 0).
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.fieldErrors = Array.isArray(problem.errors) ? problem.errors : [];
  }
}

// Listeners called when the API answers 401 (the token is wrong or was revoked).
const unauthorizedListeners = new Set();
export function onUnauthorized(listener) {
  unauthorizedListeners.add(listener);
}

// api('GET', '/services', {query: {size: 100}}) -> {status, data, etag, version, headers}.
// `body` is sent as JSON; `headers` adds request headers (e.g. {'If-Match': etag}); `text: true`
// returns the body as text in `data` (for /metrics). Throws ApiError on any non-2xx answer.
export async function api(method, path, {body, query, headers = {}, text = false, auth} = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, value);
  }
  const bearer = auth ?? token.get();
  const init = {method, headers: {...headers}, cache: 'no-store'};
  if (bearer) init.headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, {title: 'Network error', detail: `the admin API did not answer: ${e.message}`});
  }
  const raw = await response.text();
  let data = raw;
  if (!text && raw.length > 0) {
    try {
      data = JSON.parse(raw);
    } catch {
      data = {detail: raw};
    }
  } else if (!text) {
    data = null;
  }
  if (!response.ok) {
    const problem = data && typeof data === 'object' ? data : {detail: String(raw)};
    const error = new ApiError(response.status, problem);
    if (response.status === 401 && auth === undefined) {
      for (const listener of unauthorizedListeners) listener(error);
    }
    throw error;
  }
  return {
    status: response.status,
    data,
    etag: response.headers.get('ETag'),
    version: response.headers.get('X-Config-Version'),
    headers: response.headers,
  };
}

// Every item of a list endpoint, following `next` cursors (size 1000 per page).
export async function listAll(path, query = {}) {
  const items = [];
  let after;
  do {
    const {data} = await api('GET', path, {query: {...query, size: 1000, after}});
    items.push(...data.data);
    after = data.next;
  } while (after);
  return items;
}

// Checks a token without signing in with it: true when the API accepts it.
export async function tokenWorks(candidate) {
  try {
    await api('GET', '/status', {auth: candidate});
    return true;
  } catch (e) {
    if (e.status === 401) return false;
    throw e;
  }
}
