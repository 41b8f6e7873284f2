// Drip's web UI, in the spirit of the original ElixirDrip pages: log in or sign up, browse
// folders (`/?path=$/a/b`), upload with progress, download, rename, move, delete and share
// files, see who is online and get live notifications.
//
// Everything goes through /api/v1 with a bearer token kept in memory and in this tab's
// sessionStorage (never the persistent local storage, where a script could read a
// 30-day credential long after the tabs are closed: local storage holds only the
// addresses of unfinished resumable uploads, nothing without the session); the access
// token is refreshed
// before it expires. The browser's open tabs of Drip share one session over a
// BroadcastChannel: a new tab takes it from another, a login or logout reaches them all.
// Text from the server or from users (file names are user input) is only ever inserted
// with textContent or as text nodes: nothing here turns a string into markup.

const SESSION_KEY = 'drip.session';
const ROOT = '$';
const PAGE_SIZE = 100;
/** Refresh this long (plus some jitter, so that tabs sharing a session do not race) before the access token expires. */
const REFRESH_MARGIN_MS = 60_000;
const REFRESH_JITTER_MS = 20_000;
/** A request made with less validity left than this refreshes the token first. */
const MIN_VALIDITY_MS = 15_000;
/** Timers cannot wait longer than about 24 days; wake up daily and look again. */
const MAX_TIMER_MS = 86_400_000;
/**
 * Lifetimes assumed when the server's expiry times make no sense on this clock (a fresh
 * token cannot be expired already): refresh every few minutes rather than in a loop.
 */
const FALLBACK_ACCESS_MS = 5 * 60_000;
const FALLBACK_REFRESH_MS = 86_400_000;
const MAX_NOTIFICATIONS = 50;
const MAX_REMEMBERED_UPLOADS = 100;
/** The close code the server sends when the connection's token expires. */
const CLOSE_TOKEN_EXPIRED = 4001;
const RECONNECT_MIN_MS = 1_000;
const RECONNECT_MAX_MS = 30_000;

/** The original's texts, word for word. */
const TEXT = {
  welcome: (username) => `${username}, you're now logged in. Welcome back!`,
  invalidLogin: 'Invalid username/password combination.',
  created: 'Your account was created!',
  notCreated: 'Unable to create account. Please check the errors below.',
  loginRequired: 'You need to be logged in to view this content.',
  invalidPath: 'The path provided is invalid.',
  notFound: 'File not found.',
  unexpected: 'Unexpected error.',
  uploadEnqueued: 'Your file upload is enqueued. A confirmation will appear shortly.',
  shared: (username) => `Successfully shared the file with ${username}.`,
  userNotFound: (username) => `Couldn't find a user with ${username} username.`,
  loggedOut: 'You are now logged out.',
  unreachable: 'Drip could not be reached. Please try again.',
};

/** Sign-up field errors: the API names the invalid fields, these say what is expected. */
const FIELD_ERRORS = {
  username: 'should be 1 to 30 characters: letters, digits, "_", "-" or "."',
  email: 'has invalid format',
  password: 'should be 8 to 100 characters',
};

// ---------------------------------------------------------------------------------------
// State

const state = {
  /** Notifications that came since the user last went to them (the header's count). */
  unseen: 0,
  /**
   * `{user, access_token, expires_at, refresh_token, refresh_expires_at}` as the API gave
   * it, plus `local: {expires, refreshExpires}`: the same instants on this browser's clock.
   */
  session: null,
  refreshTimer: 0,
  /** The refresh in flight, shared by everyone who needs a fresh token meanwhile. */
  refreshing: null,
  /** The folder shown, and the cursor of its next page of files. */
  path: ROOT,
  cursor: null,
  /** The cursor of the trash's next page. */
  trashCursor: null,
  /** Bumped by every listing request, so that a late answer never overwrites a newer one. */
  listingSeq: 0,
  /**
   * The folder shown, as loaded: its subfolders and files, the column it is sorted by,
   * the filter box's text and the ids of the files selected.
   */
  view: { shownPath: null, folders: [], files: [], sort: { key: 'name', dir: 1 }, filter: '', selected: new Set() },
  /** The event connection, and its replacement while that one is being opened. */
  socket: null,
  pendingSocket: null,
  reconnectTimer: 0,
  reconnectDelay: RECONNECT_MIN_MS,
  /** user_id → {username, count}. */
  online: new Map(),
  /** Uploads answered 201 whose `upload` event has not arrived yet (media ids). */
  awaitingConfirmation: new Set(),
  /** `upload` events that arrived before their upload's answer: media id → message. */
  confirmedEarly: new Map(),
};

/** Tabs holding the same session (a duplicated tab) tell each other about rotations and log-outs. */
const sessionChannel = 'BroadcastChannel' in window ? new BroadcastChannel('drip-session') : null;

// ---------------------------------------------------------------------------------------
// DOM helpers

function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page has no #${id}`);
  return node;
}

/**
 * Creates an element. `text` sets its textContent, `class` its class, `on<event>` adds a
 * listener, anything else is an attribute; children are nodes or strings (text nodes).
 */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'text') node.textContent = String(value);
    else if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  // Like a prop, an absent child (null, undefined, false) is left out.
  node.append(...children.filter((child) => child !== null && child !== undefined && child !== false));
  return node;
}

function flash(message, kind = 'info') {
  const box = byId('flash');
  box.textContent = message ?? '';
  box.className = kind === 'error' ? 'flash flash-error' : 'flash';
  box.hidden = !message;
}

function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return '';
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB', 'PB'];
  let value = bytes;
  let unit = -1;
  do {
    value /= 1024;
    unit += 1;
  } while (value >= 1024 && unit < units.length - 1);
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

function plural(count, word) {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/** An API message ("a file with this name already exists") as a sentence. */
function sentence(text) {
  const trimmed = String(text ?? '').trim();
  if (!trimmed) return TEXT.unexpected;
  const capitalized = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capitalized) ? capitalized : `${capitalized}.`;
}

/** Whether a click asks for a new tab or window (then the browser handles the link). */
function wantsNewTab(event) {
  return event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey;
}

// ---------------------------------------------------------------------------------------
// Paths and URLs

/** `$/a/b` → `['a', 'b']`. */
function segments(path) {
  return path === ROOT ? [] : path.slice(2).split('/');
}

function childOf(path, name) {
  return `${path}/${name}`;
}

function parentOf(path) {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? ROOT : path.slice(0, slash);
}

/** The page's URL for a folder, keeping `$` and `/` readable. */
function urlFor(path) {
  return `/?path=${encodeURIComponent(path).replace(/%24/g, '$').replace(/%2F/g, '/')}`;
}

function pathFromUrl() {
  return new URLSearchParams(window.location.search).get('path') || ROOT;
}

function fileUrl(file) {
  return `/api/v1/files/${encodeURIComponent(file.id)}`;
}

// ---------------------------------------------------------------------------------------
// The API

/** An error answer of the API: `{"error": {"code", "message", "details"?}}`. */
class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

function apiErrorFrom(status, statusText, body) {
  const detail = body && typeof body.error === 'object' && body.error !== null ? body.error : {};
  return new ApiError(
    status,
    typeof detail.code === 'string' ? detail.code : `http_${status}`,
    typeof detail.message === 'string' ? detail.message : statusText || TEXT.unexpected,
    detail.details,
  );
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: the status says enough
  }
  return apiErrorFrom(response.status, response.statusText, body);
}

/** What to tell the user about a failure. */
function describe(error) {
  if (error instanceof ApiError) {
    switch (error.code) {
      case 'not_found':
        return TEXT.notFound;
      case 'invalid_path':
        return TEXT.invalidPath;
      case 'internal':
        return TEXT.unexpected;
      case 'quota_exceeded':
        // In the units the header shows, not in bytes.
        if (Number.isFinite(error.details?.quota) && Number.isFinite(error.details?.used)) {
          const { quota, used } = error.details;
          return `This file does not fit in your storage quota of ${formatBytes(quota)} (${formatBytes(used)} used, ${formatBytes(Math.max(0, quota - used))} free).`;
        }
        return sentence(error.message);
      default:
        return sentence(error.message);
    }
  }
  if (error instanceof TypeError) return TEXT.unreachable;
  console.error(error);
  return TEXT.unexpected;
}

/** Shows a failure; a refused token ends the session instead. */
function report(error) {
  if (error instanceof ApiError && error.status === 401) {
    // Once signed out, the other requests of the moment failing too say nothing more:
    // the login page already says why.
    if (state.session) sessionLost(error);
    return;
  }
  flash(describe(error), 'error');
}

/**
 * Calls the JSON API with the bearer token, refreshed first when it is about to expire
 * (and once more if the server finds it expired all the same).
 */
async function api(method, path, { body, retried = false } = {}) {
  const headers = { Accept: 'application/json', Authorization: `Bearer ${await ensureFresh()}` };
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.ok) return response.status === 204 ? null : response.json();
  const error = await errorFrom(response);
  if (!retried && error.code === 'token_expired') {
    await refreshSession();
    return api(method, path, { body, retried: true });
  }
  throw error;
}

// ---------------------------------------------------------------------------------------
// The session: memory + this tab's sessionStorage, refreshed before it expires

/**
 * A session body with its expiry times moved onto this browser's clock, using the
 * answer's `Date` header: the browser's clock may be minutes off the server's.
 */
function localized(session, dateHeader) {
  const received = Date.now();
  const serverNow = Date.parse(dateHeader ?? '');
  const offset = Number.isFinite(serverNow) ? received - serverNow : 0;
  const onThisClock = (timestamp, fallback) => {
    const at = Date.parse(timestamp) + offset;
    return Number.isFinite(at) && at > received ? at : received + fallback;
  };
  return {
    ...session,
    local: {
      expires: onThisClock(session.expires_at, FALLBACK_ACCESS_MS),
      refreshExpires: onThisClock(session.refresh_expires_at, FALLBACK_REFRESH_MS),
    },
  };
}

/** Opens a session (log in, sign up, refresh): the session, on this clock. */
async function openSession(path, body) {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(body),
    cache: 'no-store',
  });
  if (!response.ok) throw await errorFrom(response);
  return localized(await response.json(), response.headers.get('Date'));
}

function msUntil(localTime) {
  return Number.isFinite(localTime) ? localTime - Date.now() : 0;
}

function usableSession(session) {
  const usable = session && session.user && session.access_token && session.refresh_token && session.local;
  return Boolean(usable && msUntil(session.local.refreshExpires) > 0);
}

function storedSession() {
  try {
    const session = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null');
    return usableSession(session) ? session : null;
  } catch {
    return null;
  }
}

/** How long a new tab waits for another tab's session before it shows the login page. */
const SESSION_ASK_MS = 250;

/** Asks this browser's other tabs for their session; answers it, or null when none replies. */
function askOtherTabs() {
  if (!sessionChannel) return Promise.resolve(null);
  return new Promise((resolve) => {
    const listener = ({ data }) => {
      if (data?.type !== 'session' || !usableSession(data.session)) return;
      finish(data.session);
    };
    const finish = (session) => {
      clearTimeout(timer);
      sessionChannel.removeEventListener('message', listener);
      resolve(session);
    };
    const timer = setTimeout(() => finish(null), SESSION_ASK_MS);
    sessionChannel.addEventListener('message', listener);
    sessionChannel.postMessage({ type: 'ask' });
  });
}

/** Takes a session another tab holds (a new tab, or a login in another tab). */
function adoptSession(session) {
  if (state.session) return;
  setSession(session);
  showApp();
}

function setSession(session) {
  state.session = session;
  try {
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  } catch {
    // storage disabled or full: the session lives in memory only (lost on reload)
  }
  scheduleRefresh();
}

function forgetSession() {
  state.session = null;
  clearTimeout(state.refreshTimer);
  try {
    sessionStorage.removeItem(SESSION_KEY);
  } catch {
    // storage disabled: nothing was kept
  }
  closeSocket();
}

function scheduleRefresh() {
  clearTimeout(state.refreshTimer);
  if (!state.session) return;
  const remaining = msUntil(state.session.local.expires);
  const margin = Math.min(REFRESH_MARGIN_MS + Math.random() * REFRESH_JITTER_MS, remaining / 3);
  const delay = Math.max(1_000, remaining - margin);
  if (delay > MAX_TIMER_MS) {
    state.refreshTimer = setTimeout(scheduleRefresh, MAX_TIMER_MS);
    return;
  }
  state.refreshTimer = setTimeout(() => refreshSession().catch(sessionLost), delay);
}

/** The access token, refreshed first if it has little time left. */
async function ensureFresh() {
  if (state.session && msUntil(state.session.local.expires) < MIN_VALIDITY_MS) await refreshSession();
  if (!state.session) throw new ApiError(401, 'unauthenticated', TEXT.loginRequired);
  return state.session.access_token;
}

/** Trades the refresh token for a new pair; concurrent callers share one request. */
function refreshSession() {
  if (!state.refreshing) {
    const spent = state.session?.refresh_token;
    // Tabs of one session take turns (a refresh token buys one pair; showing it twice
    // revokes the session).
    const rotation = navigator.locks
      ? navigator.locks.request('drip-refresh', () => rotate(spent))
      : rotate(spent);
    state.refreshing = rotation.finally(() => {
      state.refreshing = null;
    });
  }
  return state.refreshing;
}

async function rotate(spent) {
  if (!state.session || !spent) throw new ApiError(401, 'unauthenticated', TEXT.loginRequired);
  // Another tab of this session rotated it while this one waited: its pair was adopted.
  if (state.session.refresh_token !== spent) return;
  const session = await openSession('/api/v1/sessions/refresh', { refresh_token: spent });
  if (state.session?.refresh_token !== spent) {
    // Logged out meanwhile: do not leave the new session alive.
    revoke(session.refresh_token);
    return;
  }
  setSession(session);
  sessionChannel?.postMessage({ type: 'rotated', from: spent, session });
  renewSocket();
}

/** The session cannot go on: a refused token logs out, an unreachable server is retried. */
function sessionLost(error) {
  if (!state.session) return;
  if (error instanceof ApiError && error.status === 401) {
    signedOut(TEXT.loginRequired, 'error', { keepUrl: true });
    return;
  }
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(() => refreshSession().catch(sessionLost), 10_000);
}

function revoke(refreshToken) {
  fetch('/api/v1/sessions', {
    method: 'DELETE',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ refresh_token: refreshToken }),
    keepalive: true,
  }).catch(() => {
    // unreachable: the session expires on its own
  });
}

sessionChannel?.addEventListener('message', ({ data }) => {
  if (!data) return;
  if (!state.session) {
    // A tab without a session takes the one another tab of this browser opened or holds.
    if (data.type === 'session' && usableSession(data.session)) adoptSession(data.session);
    return;
  }
  if (data.type === 'ask') {
    sessionChannel.postMessage({ type: 'session', session: state.session });
  } else if (data.type === 'rotated' && data.from === state.session.refresh_token && data.session) {
    setSession(data.session);
    renewSocket();
  } else if (data.type === 'logout' && data.refresh_token === state.session.refresh_token) {
    signedOut(TEXT.loggedOut);
  }
});

// ---------------------------------------------------------------------------------------
// Logging in, signing up, logging out

/** The views of a signed-in user: one shows at a time. */
const MAIN_VIEWS = ['files-view', 'trash-view', 'shares-view', 'account-view'];

/** Shows the view `id` of MAIN_VIEWS (none for null). */
function showOnly(id) {
  for (const view of MAIN_VIEWS) byId(view).hidden = view !== id;
}

function showAuth() {
  byId('auth-view').hidden = false;
  showOnly(null);
  byId('account').hidden = true;
  byId('side').hidden = true;
  document.title = 'Drip';
}

function showApp() {
  byId('auth-view').hidden = true;
  showOnly('files-view');
  byId('account').hidden = false;
  byId('side').hidden = false;
  byId('whoami').textContent = state.session.user.username;
  const params = new URLSearchParams(window.location.search);
  if (!params.has('path') && !params.has('view')) {
    window.history.replaceState({ path: ROOT }, '', urlFor(ROOT));
  }
  renderOnline();
  loadFolder(pathFromUrl());
  // A reload of the trash, the sharing page or the account page shows it again.
  if (params.has('view')) showPageFromUrl();
  refreshUsage();
  loadTopUsers();
  loadArchives();
  showRememberedUploads();
  ensureFresh()
    .then(openSocket)
    .catch(sessionLost);
}

function startSession(session, message) {
  setSession(session);
  // Other tabs on the login page log in with it.
  sessionChannel?.postMessage({ type: 'session', session });
  showApp();
  flash(message);
  // Keyboard users continue from the folder, not from the top of the page.
  byId('folder-nav').focus();
}

async function submitting(form, task) {
  const button = form.querySelector('button[type="submit"]');
  if (button) button.disabled = true;
  try {
    await task();
  } finally {
    if (button) button.disabled = false;
    // The disabled button dropped the focus: back to the form when it is still shown (a
    // refusal), to its first field, so a keyboard user goes on from there.
    if ((document.activeElement === document.body || !document.activeElement) && !form.closest('[hidden]')) {
      form.querySelector('input:not([type="hidden"])')?.focus();
    }
  }
}

async function login(form) {
  const fields = form.elements;
  const username = fields.namedItem('username').value.trim();
  const password = fields.namedItem('password').value;
  try {
    const session = await openSession('/api/v1/sessions', { username, password });
    form.reset();
    startSession(session, TEXT.welcome(session.user.username));
  } catch (error) {
    // The wrong password goes: the next attempt starts from an empty field.
    const field = fields.namedItem('password');
    field.value = '';
    field.focus();
    if (error instanceof ApiError && error.code === 'invalid_credentials') flash(TEXT.invalidLogin, 'error');
    else report(error);
  }
}

function showFieldError(form, field, message) {
  const slot = form.querySelector(`[data-error-for="${field}"]`);
  if (!slot) return;
  slot.textContent = message;
  slot.hidden = !message;
  const input = form.elements.namedItem(field);
  if (input) input.setAttribute('aria-invalid', message ? 'true' : 'false');
}

async function signUp(form) {
  const fields = form.elements;
  const body = {
    username: fields.namedItem('username').value.trim(),
    email: fields.namedItem('email').value.trim(),
    password: fields.namedItem('password').value,
  };
  for (const field of Object.keys(FIELD_ERRORS)) showFieldError(form, field, '');
  try {
    const session = await openSession('/api/v1/users', body);
    form.reset();
    startSession(session, TEXT.created);
  } catch (error) {
    if (error instanceof ApiError && error.code === 'invalid_registration') {
      const invalid = Array.isArray(error.details?.fields) ? error.details.fields : [];
      for (const field of invalid) showFieldError(form, field, FIELD_ERRORS[field] ?? 'is invalid');
      flash(TEXT.notCreated, 'error');
    } else if (error instanceof ApiError && error.code === 'username_taken') {
      showFieldError(form, 'username', 'has already been taken');
      flash(TEXT.notCreated, 'error');
    } else {
      report(error);
    }
  }
}

function logout() {
  const session = state.session;
  if (!session) return;
  sessionChannel?.postMessage({ type: 'logout', refresh_token: session.refresh_token });
  signedOut(TEXT.loggedOut);
  revoke(session.refresh_token);
}

/** Back to the log-in page, forgetting everything the session showed. */
function signedOut(message, kind = 'info', { keepUrl = false } = {}) {
  cancelAllUploads();
  forgetSession();
  state.listingSeq += 1;
  state.awaitingConfirmation.clear();
  state.confirmedEarly.clear();
  state.online.clear();
  for (const id of ['entries', 'breadcrumb', 'online', 'notifications', 'usage', 'whoami', 'account-facts', 'archives']) {
    byId(id).replaceChildren();
  }
  state.unseen = 0;
  showUnseen();
  // No password typed on the account page outlives the session.
  for (const id of ['password-form', 'close-form']) byId(id).reset();
  byId('empty').hidden = true;
  byId('more').hidden = true;
  if (!keepUrl) window.history.replaceState(null, '', '/');
  showAuth();
  flash(message, kind);
}

// ---------------------------------------------------------------------------------------
// Usage

/** Share of the quota used past which the usage warns. */
const QUOTA_WARNING = 0.9;

/** How close to its quota a usage is: 'full', 'low' (past QUOTA_WARNING), or '' (far, or no quota). */
function quotaLevel(usage) {
  if (!Number.isFinite(usage.quota) || !Number.isFinite(usage.used)) return '';
  if (usage.available <= 0) return 'full';
  return usage.used >= usage.quota * QUOTA_WARNING ? 'low' : '';
}

async function refreshUsage() {
  try {
    const usage = await api('GET', '/api/v1/me/usage');
    const files = plural(usage.media_count, 'file');
    // With a quota: how much of it is used (uploads under way included) and what is free.
    const figures = Number.isFinite(usage.quota)
      ? `${files}, ${formatBytes(usage.used)} of ${formatBytes(usage.quota)} (${formatBytes(usage.available)} free)`
      : `${files}, ${formatBytes(usage.disk_usage)}`;
    // Near the quota it says so, in words and in colour, before an upload is refused.
    const level = quotaLevel(usage);
    const box = byId('usage');
    box.textContent = level === 'full' ? `Storage full: ${figures}` : level === 'low' ? `Storage almost full: ${figures}` : figures;
    box.className = level ? `usage usage-${level}` : 'usage';
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) report(error);
    // otherwise the header just keeps the last figures
  }
}

// ---------------------------------------------------------------------------------------
// The folder browser

function navigate(path) {
  if (path !== pathFromUrl()) window.history.pushState({ path }, '', urlFor(path));
  showFolder(path);
}

/** Goes to `path`: an error about the last place (a bad path, a failed action) is stale. */
function showFolder(path) {
  // What the banner said was about the last place (a welcome, a failed action): it goes.
  flash('');
  // From the trash or another page back to the files (a link, Back).
  if (state.session && byId('files-view').hidden) showOnly('files-view');
  loadFolder(path);
}

/** The pages beside the files, by their `?view=` in the address. */
const PAGES = { trash: showTrash, shared: showShares, account: showAccount };

/** Opens a page beside the files as a place of its own: Back returns to the files. */
function openPage(view) {
  window.history.pushState({ view }, '', `/?view=${view}`);
  showPageFromUrl();
}

/** Shows what the address names: one of the PAGES, or a folder. */
function showPageFromUrl() {
  const show = PAGES[new URLSearchParams(window.location.search).get('view') ?? ''];
  if (show) show();
  else showFolder(pathFromUrl());
}

/** Back to the folder shown before a page opened, as a new place in the history. */
function closePage() {
  window.history.pushState({ path: state.path }, '', urlFor(state.path));
  showFolder(state.path);
}

function folderLink(label, target, className) {
  return el('a', {
    href: urlFor(target),
    class: className,
    text: label,
    onclick: (event) => {
      if (wantsNewTab(event)) return;
      event.preventDefault();
      navigate(target);
    },
  });
}

/** What the root folder is called on screen (its path is `$`). */
const ROOT_LABEL = 'My files';

function renderBreadcrumb(path) {
  const crumbs = [[ROOT_LABEL, ROOT]];
  let current = ROOT;
  for (const segment of segments(path)) {
    current = childOf(current, segment);
    crumbs.push([segment, current]);
  }
  const items = crumbs.map(([label, target], index) =>
    el('li', {}, index === crumbs.length - 1 ? el('span', { 'aria-current': 'page', text: label }) : folderLink(label, target)),
  );
  byId('breadcrumb').replaceChildren(...items);
}

function cell(className, ...children) {
  return el('td', { class: className }, ...children);
}

function parentRow(path) {
  return el(
    'tr',
    { 'data-key': '..' },
    cell('select'),
    cell('name', icon('folder'), folderLink('../', parentOf(path), 'folder-link')),
    cell('type'),
    cell('num'),
    cell('num'),
    cell('num'),
    cell('actions'),
  );
}

function folderRow(path, folder) {
  // The server moves or deletes only the caller's own files in it, and says so when there
  // are none: every folder row offers the actions.
  const target = childOf(path, folder.name);
  const label = `folder ${folder.name}`;
  return el(
    'tr',
    { 'data-key': `folder:${folder.name}` },
    cell('select'),
    cell('name', icon('folder'), folderLink(`${folder.name}/`, target, 'folder-link')),
    cell('type', 'folder'),
    el('td', { class: 'num', title: `${folder.size} bytes`, text: formatBytes(folder.size) }),
    cell('num', plural(folder.files, 'file')),
    cell('num'),
    cell(
      'actions',
      actionButton('rename', label, () => renameFolder(target)),
      actionButton('move', label, () => moveFolder(target)),
      actionButton('delete', label, () => deleteFolder(target), true),
    ),
  );
}

/**
 * A row's action button: its text is `label`, its accessible name says which item it acts
 * on ("Rename notes.txt"), for screen readers that list buttons out of their row.
 */
function actionButton(label, item, onclick, danger = false) {
  return el('button', {
    type: 'button',
    class: danger ? 'action danger' : 'action',
    text: label,
    'aria-label': `${label[0].toUpperCase()}${label.slice(1)} ${item}`,
    onclick,
  });
}

/** A file's name as the link that downloads it (through a download URL, see downloadLink). */
function fileLink(file) {
  return downloadLink(
    el('a', { href: `${fileUrl(file)}/content`, download: file.name, text: file.name }),
    `${fileUrl(file)}/download-url`,
  );
}

function fileRow(file) {
  const mine = file.creator_id === state.session?.user.id;
  // Two files shared by two people may have one name: their buttons say whose they are.
  const named = !mine && file.shared_by ? `${file.name} (shared by ${file.shared_by})` : file.name;
  const name = cell('name', icon(kindOf(file)), fileLink(file));
  if (!mine) {
    const by = file.shared_by ? `shared by ${file.shared_by}` : 'shared with you';
    name.append(el('span', { class: 'badge', text: by }));
  }
  if (!file.uploaded_at) name.append(el('span', { class: 'badge', text: 'uploading' }));
  const actions = cell('actions');
  if (mine) {
    const action = (label, handler, danger = false) => actionButton(label, file.name, handler, danger);
    actions.append(
      action('rename', () => changeFile(file, 'name')),
      action('move', () => changeFile(file, 'folder')),
      action('share', () => shareFile(file)),
      action('link', () => linkFile(file)),
      action('delete', () => deleteFile(file), true),
    );
  } else {
    actions.append(actionButton('leave', named, () => leaveShare(file)));
  }
  if (previewable(file)) actions.prepend(actionButton('preview', named, () => previewFile(file)));
  const select = cell('select');
  if (mine) {
    select.append(el('input', {
      type: 'checkbox',
      'aria-label': `Select ${file.name}`,
      checked: state.view.selected.has(file.id),
      onchange: (event) => {
        if (event.target.checked) state.view.selected.add(file.id);
        else state.view.selected.delete(file.id);
        renderSelection();
      },
    }));
  }
  const modified = file.uploaded_at ?? file.updated_at;
  return el(
    'tr',
    { 'data-key': file.id },
    select,
    name,
    cell('type', kindOf(file)),
    el('td', { class: 'num', title: `${file.size} bytes`, text: formatBytes(file.size) }),
    cell('num'),
    el('td', { class: 'num' }, el('time', { datetime: modified, title: modified, text: formatWhen(modified) })),
    actions,
  );
}

/** Shows a folder (`cursor` null) or appends its next page of files. */
async function loadFolder(path, cursor = null) {
  const seq = ++state.listingSeq;
  const query = new URLSearchParams({ path, limit: String(PAGE_SIZE) });
  // The server orders the files (over every page); the cursor keeps to that order.
  const { key, dir } = state.view.sort;
  if (key !== 'name') query.set('sort', key);
  if (dir < 0) query.set('order', 'desc');
  if (cursor) query.set('cursor', cursor);
  const more = byId('more');
  more.disabled = true;
  let listing;
  try {
    listing = await api('GET', `/api/v1/folders?${query}`);
  } catch (error) {
    if (seq !== state.listingSeq) return;
    more.disabled = false;
    if (!cursor) {
      state.path = path;
      state.cursor = null;
      renderBreadcrumb(ROOT);
      byId('entries').replaceChildren();
      byId('empty').hidden = true;
      more.hidden = true;
    }
    report(error);
    return;
  }
  if (seq !== state.listingSeq) return;
  const files = Array.isArray(listing.files) ? listing.files : [];
  if (!cursor) {
    state.path = listing.path;
    renderBreadcrumb(listing.path);
    state.view.folders = Array.isArray(listing.folders) ? listing.folders : [];
    state.view.files = [];
    if (state.view.shownPath !== listing.path) {
      state.view.selected.clear();
      state.view.filter = '';
      byId('filter').value = '';
    }
    state.view.shownPath = listing.path;
    document.title = `${listing.path} · Drip`;
  }
  state.view.files.push(...files);
  const present = new Set(state.view.files.map((file) => file.id));
  for (const id of state.view.selected) if (!present.has(id)) state.view.selected.delete(id);
  state.cursor = listing.next_cursor ?? null;
  renderEntries();
  more.hidden = !state.cursor;
  more.disabled = false;
}

/** What kind of file it is, from its content type: shown as its type and icon. */
function kindOf(file) {
  const type = String(file.content_type ?? '');
  if (type.startsWith('image/')) return 'image';
  if (type.startsWith('video/')) return 'video';
  if (type.startsWith('audio/')) return 'audio';
  if (type === 'application/pdf') return 'PDF';
  if (/zip|tar|gzip|compressed|x-7z|x-rar/.test(type)) return 'archive';
  if (type.startsWith('text/') || /json|xml|javascript|yaml|toml/.test(type)) return 'text';
  return 'file';
}

/** The badge each kind of entry shows before its name (plain text: no emoji font needed). */
const ICONS = { folder: 'DIR', image: 'IMG', video: 'VID', audio: 'AUD', PDF: 'PDF', archive: 'ZIP', text: 'TXT', file: 'BIN' };

function icon(kind) {
  const known = Object.hasOwn(ICONS, kind) ? kind : 'file';
  return el('span', { class: `icon icon-${known.toLowerCase()}`, 'aria-hidden': 'true', text: ICONS[known] });
}

/** A date as the viewer reads it: the time today, the date otherwise. */
function formatWhen(timestamp) {
  const at = new Date(timestamp);
  if (Number.isNaN(at.getTime())) return '';
  const today = new Date().toDateString() === at.toDateString();
  return today ? at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : at.toLocaleDateString();
}

/** What a keyboard (or screen reader) user can reach in a row, in Tab order. */
const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled])';

/**
 * Where the focus is among the rows of `body` (a row's `data-key` and which of its
 * focusable elements), so that drawing the rows anew does not drop it on the page: answers
 * `restore()`, which puts it on the same element of the same row, or, when that row is
 * gone (deleted, moved), on the row that took its place, else on the filter box.
 */
function focusInRows(body) {
  const at = document.activeElement;
  const row = at instanceof Element && body.contains(at) ? at.closest('tr') : null;
  if (!row) return { restore: () => {} };
  const key = row.dataset.key;
  const which = [...row.querySelectorAll(FOCUSABLE)].indexOf(at);
  const index = [...body.rows].indexOf(row);
  return {
    restore: () => {
      if (document.activeElement !== document.body && document.activeElement !== null) return;
      const same = [...body.rows].find((candidate) => candidate.dataset.key === key);
      const target = same ?? body.rows[Math.min(index, body.rows.length - 1)];
      const stops = target ? [...target.querySelectorAll(FOCUSABLE)] : [];
      const chosen = same ? stops[which] ?? stops[0] : stops.find((stop) => stop.matches('a[href]')) ?? stops[0];
      (chosen ?? byId('filter')).focus();
    },
  };
}

/** How the subfolders are ordered (all of them come with the first page; the files come sorted by the server). */
const FOLDER_SORTS = {
  name: (a, b) => a.name.localeCompare(b.name),
  size: (a, b) => a.size - b.size || a.name.localeCompare(b.name),
};

/**
 * The rows of the folder shown: its subfolders, sorted here, and its loaded files, in the
 * order the server sorted them by the column chosen; the filter box narrows what is loaded
 * (and says so while more is to load).
 */
function renderEntries() {
  const { folders, files, sort, filter } = state.view;
  const needle = filter.trim().toLocaleLowerCase();
  const wanted = (item) => !needle || item.name.toLocaleLowerCase().includes(needle);
  // Folders keep to the top, by name or size (they have no date of their own).
  const folderKey = sort.key === 'size' ? 'size' : 'name';
  const folderDir = sort.key === 'size' || sort.key === 'name' ? sort.dir : 1;
  const folderRows = [...folders]
    .sort((a, b) => folderDir * FOLDER_SORTS[folderKey](a, b))
    .filter(wanted)
    .map((folder) => folderRow(state.path, folder));
  const fileRows = files.filter(wanted).map(fileRow);
  const rows = state.path !== ROOT ? [parentRow(state.path)] : [];
  const entries = byId('entries');
  const focus = focusInRows(entries);
  entries.replaceChildren(...rows, ...folderRows, ...fileRows);
  focus.restore();
  const nothing = folders.length + files.length === 0;
  byId('empty').hidden = !nothing;
  // An empty folder has nothing to put in a ZIP.
  byId('download-folder').disabled = nothing;
  const noMatch = byId('no-match');
  noMatch.hidden = nothing || !needle || folderRows.length + fileRows.length > 0;
  noMatch.textContent = `Nothing here matches "${filter.trim()}".`;
  const partial = byId('filter-partial');
  partial.hidden = !needle || !state.cursor;
  partial.textContent = `Only the ${plural(files.length, 'file')} loaded so far are filtered: "more" loads the rest.`;
  byId('sort-select').value = `${sort.key} ${sort.dir > 0 ? 'asc' : 'desc'}`;
  for (const button of document.querySelectorAll('#listing-head button[data-sort]')) {
    const active = button.dataset.sort === sort.key;
    button.closest('th').setAttribute('aria-sort', active ? (sort.dir > 0 ? 'ascending' : 'descending') : 'none');
    button.dataset.arrow = active ? (sort.dir > 0 ? '▲' : '▼') : '';
  }
  renderSelection();
}

/** Sorts the folder by `key` (again: the other way), listing it anew from the server. */
function sortBy(key) {
  const sort = state.view.sort;
  state.view.sort = { key, dir: sort.key === key ? -sort.dir : 1 };
  loadFolder(state.path);
}

/** The selected files of the folder shown (the user's own). */
function selectedFiles() {
  return state.view.files.filter((file) => state.view.selected.has(file.id));
}

function renderSelection() {
  const chosen = selectedFiles();
  byId('selection-bar').hidden = chosen.length === 0;
  // Selected files the filter hides are still acted on: say so.
  const shown = new Set([...document.querySelectorAll('#entries tr[data-key]')].map((row) => row.dataset.key));
  const hidden = chosen.filter((file) => !shown.has(file.id)).length;
  byId('selection-count').textContent =
    `${plural(chosen.length, 'file')} selected` + (hidden ? ` (${hidden} hidden by the filter)` : '');
  const all = byId('select-all');
  const selectable = [...document.querySelectorAll('#entries input[type="checkbox"]')];
  all.disabled = selectable.length === 0;
  all.checked = selectable.length > 0 && selectable.every((box) => box.checked);
  all.indeterminate = !all.checked && selectable.some((box) => box.checked);
}

/** The header's checkbox: every own file shown is selected, or none. */
function selectAllShown(checked) {
  for (const box of document.querySelectorAll('#entries input[type="checkbox"]')) {
    const id = box.closest('tr')?.dataset.key;
    if (!id) continue;
    box.checked = checked;
    if (checked) state.view.selected.add(id);
    else state.view.selected.delete(id);
  }
  renderSelection();
}

/**
 * Runs `task` on each selected file, one after the other; answers the names done and the
 * failures (`"name": why`).
 */
async function onEachSelected(task) {
  const done = [];
  const failed = [];
  for (const file of selectedFiles()) {
    try {
      await task(file);
      done.push(file.name);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) throw error;
      failed.push(`"${file.name}": ${describe(error)}`);
    }
  }
  state.view.selected.clear();
  return { done, failed };
}

/** Says how a bulk action went, then shows the folder as it is now. */
function afterBulk({ done, failed }, past) {
  if (failed.length) {
    flash(`${plural(done.length, 'file')} ${past}; ${failed.length} could not be: ${failed.join('; ')}`, 'error');
    reloadFolder();
    refreshUsage();
  } else {
    afterChange(`${plural(done.length, 'file')} ${past}.`);
  }
}

async function deleteSelected() {
  const count = selectedFiles().length;
  let outcome = null;
  const done = await openDialog({
    title: `Delete ${plural(count, 'file')}?`,
    text: 'They go to the trash: gone for everyone they are shared with, until you restore them.',
    submit: 'Delete',
    danger: true,
    run: async () => {
      outcome = await onEachSelected((file) => api('DELETE', fileUrl(file)));
    },
  });
  if (done && outcome) afterBulk(outcome, 'moved to the trash');
}

async function moveSelected() {
  const count = selectedFiles().length;
  let outcome = null;
  let target = '';
  const done = await openDialog({
    title: `Move ${plural(count, 'file')}`,
    label: 'To folder',
    value: state.path,
    submit: 'Move',
    ...folderPicker(byId('dialog-input'), state.path),
    run: async (value) => {
      target = typedFolder(value);
      outcome = await onEachSelected((file) => api('PATCH', fileUrl(file), { body: { folder: target } }));
    },
  });
  if (done && outcome) afterBulk(outcome, `moved to ${target}`);
}

/** Files small enough, and of a kind, to look at in the page. */
const PREVIEW_MAX_BYTES = 20 * 1024 * 1024;
const PREVIEW_TEXT_BYTES = 64 * 1024;

function previewable(file) {
  const kind = kindOf(file);
  return file.uploaded_at && file.size <= PREVIEW_MAX_BYTES && (kind === 'image' || kind === 'text');
}

/** Shows an image, or the first 64 KiB of a text, in a dialog. */
async function previewFile(file) {
  const body = el('div', { class: 'preview' }, el('p', { class: 'muted', text: 'Loading…' }));
  const shown = openDialog({ title: file.name, submit: 'Close', cancelable: false, extra: body, run: async () => {} });
  try {
    const url = await downloadUrl(`${fileUrl(file)}/download-url`);
    if (kindOf(file) === 'image') {
      const image = el('img', { src: url, alt: file.name });
      image.addEventListener('error', () => body.replaceChildren(el('p', { class: 'error', text: 'This image cannot be shown.' })));
      body.replaceChildren(image);
    } else {
      const response = await fetch(url, { headers: { Range: `bytes=0-${PREVIEW_TEXT_BYTES - 1}` }, cache: 'no-store' });
      if (!response.ok) throw await errorFrom(response);
      const text = new TextDecoder().decode(await response.arrayBuffer());
      const more = file.size > PREVIEW_TEXT_BYTES ? el('p', { class: 'muted', text: `The first ${formatBytes(PREVIEW_TEXT_BYTES)} of ${formatBytes(file.size)}.` }) : '';
      body.replaceChildren(el('pre', { text }), more);
    }
  } catch (error) {
    body.replaceChildren(el('p', { class: 'error', text: describe(error) }));
  }
  await shown;
}

function reloadFolder() {
  if (state.session) loadFolder(state.path);
}

// ---------------------------------------------------------------------------------------
// Downloads

/** How long a pointer rests on a download link before the link fetches a URL of its own. */
const PRIME_AFTER_REST_MS = 150;

/** A download URL this old is fetched anew before a link offers it (the server's last 5 minutes). */
const DOWNLOAD_URL_REUSE_MS = 60_000;

/**
 * A download URL of the API (`POST …/download-url`): a short-lived link that needs no
 * header, so the browser's own download manager fetches and streams the content to disk.
 */
async function downloadUrl(endpoint) {
  const answer = await api('POST', endpoint);
  if (typeof answer?.url !== 'string' || !answer.url.startsWith('/api/v1/downloads/')) {
    throw new Error('no download URL in the answer');
  }
  return answer.url;
}

/**
 * Makes `anchor` a download link of what `endpoint` grants: hovering or focusing it puts a
 * fresh download URL in its `href` (so "open in new tab" and "copy link" work), and a
 * click always fetches a new one and starts the download with it.
 */
function downloadLink(anchor, endpoint) {
  let primedAt = 0;
  const prime = () => {
    if (Date.now() - primedAt < DOWNLOAD_URL_REUSE_MS / 2) return;
    primedAt = Date.now();
    downloadUrl(endpoint).then(
      (url) => anchor.setAttribute('href', url),
      () => {
        primedAt = 0;
      },
    );
  };
  // A pointer that rests on the link (not one sweeping across the list), the keyboard's
  // focus, or a context menu (open in a new tab, copy the link) gets it a URL of its own.
  let resting = 0;
  anchor.addEventListener('pointerenter', () => {
    clearTimeout(resting);
    resting = setTimeout(prime, PRIME_AFTER_REST_MS);
  });
  anchor.addEventListener('pointerleave', () => clearTimeout(resting));
  anchor.addEventListener('focus', prime);
  anchor.addEventListener('contextmenu', prime);
  anchor.addEventListener('click', (event) => {
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) {
      if (Date.now() - primedAt < DOWNLOAD_URL_REUSE_MS) return;
    }
    event.preventDefault();
    startDownload(endpoint, anchor.getAttribute('download'));
  });
  return anchor;
}

/** Starts the browser's download of what `endpoint` grants, saved as `name`. */
async function startDownload(endpoint, name) {
  try {
    const url = await downloadUrl(endpoint);
    const anchor = el('a', { href: url, download: name ?? '', hidden: true });
    document.body.append(anchor);
    anchor.click();
    anchor.remove();
  } catch (error) {
    report(error);
  }
}

// ---------------------------------------------------------------------------------------
// Uploads

/** Files this big or bigger go up resumably (tus), in requests of TUS_CHUNK_BYTES. */
const TUS_MIN_BYTES = 16 * 1024 * 1024;
const TUS_CHUNK_BYTES = 8 * 1024 * 1024;
/** Consecutive failed attempts a resumable upload survives before it gives up. */
const TUS_MAX_RETRIES = 8;
const TUS_RETRY_MAX_MS = 30_000;

/**
 * The upload queue: every file picked, dropped or found in a dropped folder, uploaded one
 * after the other; a failure is shown on its row and the others go on.
 * Each item: `{file, folder, label, status, loaded, error, request, upload, row}`.
 */
const queue = { items: [], running: false, batch: [] };

/** Whether an upload is still to finish: queued, sending, or waiting to resume. */
function unfinished(item) {
  return item.status === 'queued' || item.status === 'uploading' || item.status === 'waiting';
}

/** Whether uploads are queued or under way (leaving the page would lose them). */
function uploadsBusy() {
  return queue.items.some(unfinished);
}

/** Queues `{file, folder, label}` entries and starts the queue if it is idle. */
function enqueueUploads(entries) {
  if (!entries.length) return;
  const list = byId('upload-queue');
  for (const entry of entries) {
    const item = { ...entry, status: 'queued', loaded: 0, error: null, request: null, upload: null };
    item.row = uploadRow(item);
    queue.items.push(item);
    queue.batch.push(item);
    list.append(item.row.node);
    renderUploadItem(item);
  }
  byId('upload-panel').hidden = false;
  runQueue();
}

function uploadRow(item) {
  const progress = el('progress', { max: '100', value: '0', 'aria-label': `Progress of ${item.label}` });
  const status = el('span', { class: 'upload-state' });
  const cancel = actionButton('cancel', item.label, () => cancelUpload(item));
  const keep = actionButton('keep both', item.label, () => keepBoth(item));
  keep.hidden = true;
  const replace = actionButton('replace', item.label, () => replaceTaken(item));
  replace.hidden = true;
  const node = el('li', { class: 'upload-item' }, el('span', { class: 'upload-name', text: item.label }), progress, status, cancel, replace, keep);
  return { node, progress, status, cancel, keep, replace };
}

/**
 * Its name was taken: upload it again as the new version of the file there (it keeps its
 * shares and links; the old content goes).
 */
function replaceTaken(item) {
  if (item.status !== 'failed') return;
  item.replace = true;
  item.copy = 0;
  item.status = 'queued';
  item.error = null;
  item.loaded = 0;
  renderUploadItem(item);
  queue.batch.push(item);
  runQueue();
}

/** The name a file is uploaded under: its own, or `name (n).ext` once "keep both" is asked. */
function uploadName(item) {
  return item.copy ? numberedName(item.file.name, item.copy) : item.file.name;
}

/** `report (2).pdf` for `report.pdf` and 2: the number before the extension, as the server numbers drops. */
function numberedName(name, n) {
  const dot = name.lastIndexOf('.');
  const cut = dot > 0 && dot < name.length - 1 ? dot : name.length;
  return `${name.slice(0, cut)} (${n})${name.slice(cut)}`;
}

/** Most numbers "keep both" tries before it gives up. */
const KEEP_BOTH_TRIES = 20;

/** Its name was taken: upload it again under the first free `name (n).ext`. */
function keepBoth(item) {
  if (item.status !== 'failed') return;
  item.replace = false;
  nextCopy(item);
  queue.batch.push(item);
  runQueue();
}

/** Queues the item again under the next number of its name. */
function nextCopy(item) {
  item.copy = (item.copy ?? 0) + 1;
  item.status = 'queued';
  item.error = null;
  item.loaded = 0;
  item.upload = null;
  renderUploadItem(item);
}

function renderUploadItem(item) {
  const { progress, status, cancel, node } = item.row;
  const size = item.file.size;
  const percent = size > 0 ? (item.loaded / size) * 100 : 100;
  const ended = item.status === 'failed' || item.status === 'cancelled';
  progress.value = item.status === 'done' ? 100 : ended ? 0 : percent;
  node.dataset.status = item.status;
  cancel.hidden = !unfinished(item);
  item.row.keep.hidden = !(item.status === 'failed' && item.taken);
  item.row.replace.hidden = item.row.keep.hidden;
  status.classList.toggle('error', item.status === 'failed');
  switch (item.status) {
    case 'queued':
      status.textContent = `queued (${formatBytes(size)})`;
      break;
    case 'uploading':
      status.textContent = uploadSpeed(item, percent);
      break;
    case 'waiting':
      status.textContent = item.note ?? 'waiting to resume';
      break;
    case 'done':
      if (item.replace) status.textContent = `done, the file replaced (${formatBytes(size)})`;
      else status.textContent = item.copy ? `done, as "${uploadName(item)}" (${formatBytes(size)})` : `done (${formatBytes(size)})`;
      break;
    case 'cancelled':
      status.textContent = 'cancelled';
      break;
    default:
      status.textContent = `failed: ${item.error ?? TEXT.unexpected}`;
  }
}

/** A time to come as people say it: "12 s", "4 min", "2 h 5 min". */
function formatDuration(seconds) {
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** "42% · 3.1 MB/s · 12 s left", measured over this attempt. */
function uploadSpeed(item, percent) {
  const text = `${Math.floor(percent)}%`;
  const seconds = (performance.now() - (item.attemptStarted ?? performance.now())) / 1000;
  const moved = item.loaded - (item.attemptFrom ?? 0);
  if (seconds < 0.5 || moved <= 0) return text;
  const rate = moved / seconds;
  const left = Math.ceil((item.file.size - item.loaded) / rate);
  return `${text} · ${formatBytes(rate)}/s · ${formatDuration(left)} left`;
}

async function runQueue() {
  if (queue.running) return;
  queue.running = true;
  try {
    for (let item = nextQueued(); item; item = nextQueued()) {
      item.status = 'uploading';
      renderUploadItem(item);
      try {
        // A replacement goes whole (streamed): the resumable protocol makes new files only.
        const resumable = item.file.size >= TUS_MIN_BYTES && !item.replace;
        const file = resumable ? await uploadResumably(item) : await uploadWhole(item);
        if (item.status === 'cancelled') continue;
        item.status = 'done';
        item.loaded = item.file.size;
        renderUploadItem(item);
        uploaded(file, queue.batch.length === 1);
      } catch (error) {
        if (item.status === 'cancelled') continue;
        if (error instanceof ApiError && error.status === 401 && state.session) {
          report(error);
          return;
        }
        const taken = error instanceof ApiError && error.code === 'already_exists';
        // Keeping both and that number is taken too: the next one.
        if (taken && item.copy && item.copy < KEEP_BOTH_TRIES) {
          nextCopy(item);
          continue;
        }
        item.status = 'failed';
        item.taken = taken;
        item.error = describe(error);
        renderUploadItem(item);
      }
    }
    summarizeBatch();
  } finally {
    queue.running = false;
  }
}

function nextQueued() {
  return queue.items.find((item) => item.status === 'queued');
}

/** Once the queue is idle: what became of the files picked or dropped together. */
function summarizeBatch() {
  const batch = queue.batch;
  queue.batch = [];
  const failed = batch.filter((item) => item.status === 'failed');
  const done = batch.filter((item) => item.status === 'done').length;
  if (failed.length) {
    const names = failed.map((item) => `"${item.label}"`).join(', ');
    flash(`${plural(failed.length, 'upload')} failed: ${names} (see the list for why). ${plural(done, 'file')} uploaded.`, 'error');
  } else if (batch.length > 1) {
    flash(`${plural(done, 'file')} uploaded.`);
  }
}

function cancelUpload(item) {
  const was = item.status;
  if (!unfinished(item)) return;
  item.status = 'cancelled';
  item.request?.abort();
  item.wake?.();
  renderUploadItem(item);
  if (item.upload) {
    // What a resumable upload stored goes (tus termination), and its name is free again.
    forgetUpload(item);
    tusRequest('DELETE', item.upload).catch(() => {});
  }
  if (was !== 'queued') flash(`The upload of "${item.label}" was cancelled.`);
}

/** Cancels everything queued or under way (logging out). */
function cancelAllUploads() {
  for (const item of queue.items) {
    if (unfinished(item)) {
      item.status = 'cancelled';
      item.request?.abort();
      item.wake?.();
    }
  }
  queue.items = [];
  queue.batch = [];
  byId('upload-queue').replaceChildren();
  byId('upload-panel').hidden = true;
}

/** Drops the rows of finished, failed and cancelled uploads. */
function clearFinishedUploads() {
  queue.items = queue.items.filter((item) => {
    if (!unfinished(item)) item.row.node.remove();
    return unfinished(item);
  });
  byId('upload-panel').hidden = queue.items.length === 0;
}

/**
 * One XMLHttpRequest (for its upload progress) as the session's user: resolves with
 * `{status, body, headers}` whatever the status, rejects with a TypeError when the
 * network fails, and with an AbortError when cancelled.
 */
async function send(item, method, url, headers, body, onProgress) {
  const token = await ensureFresh();
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    item.request = request;
    if (onProgress) {
      request.upload.addEventListener('progress', (event) => onProgress(event.loaded));
    }
    request.addEventListener('load', () => {
      item.request = null;
      let parsed = null;
      try {
        parsed = request.responseText ? JSON.parse(request.responseText) : null;
      } catch {
        // not JSON: the status says enough
      }
      resolve({ status: request.status, statusText: request.statusText, body: parsed, header: (name) => request.getResponseHeader(name) });
    });
    request.addEventListener('error', () => {
      item.request = null;
      reject(new TypeError('network error'));
    });
    request.addEventListener('abort', () => {
      item.request = null;
      reject(new DOMException('cancelled', 'AbortError'));
    });
    request.open(method, url);
    request.setRequestHeader('Authorization', `Bearer ${token}`);
    request.setRequestHeader('Accept', 'application/json');
    for (const [name, value] of Object.entries(headers)) request.setRequestHeader(name, value);
    request.send(body);
  });
}

/** Uploads a small file in one request; answers the stored file. */
async function uploadWhole(item) {
  const query = new URLSearchParams({ folder: item.folder, name: uploadName(item) });
  if (item.replace) query.set('conflict', 'replace');
  item.attemptStarted = performance.now();
  item.attemptFrom = 0;
  // The browser sends the file's own type as Content-Type; without one the server guesses from the name.
  const answer = await send(item, 'POST', `/api/v1/files?${query}`, {}, item.file, (loaded) => {
    item.loaded = loaded;
    renderUploadItem(item);
  });
  // 200: it replaced the file there.
  if ((answer.status === 201 || answer.status === 200) && answer.body?.id) return answer.body;
  throw apiErrorFrom(answer.status, answer.statusText, answer.body);
}

/** base64 of the UTF-8 bytes of `text` (tus metadata values). */
function base64(text) {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** A tus request outside any item's queue slot (HEAD, DELETE). */
function tusRequest(method, url) {
  return send({}, method, url, { 'Tus-Resumable': '1.0.0' }, null);
}

/**
 * Uploads a big file over the service's tus endpoint: created once, then sent in chunks
 * from the durable offset; a cut connection waits (for the network to come back, or a
 * while) and resumes where the server says it stands. Answers the stored file.
 */
async function uploadResumably(item) {
  const file = item.file;
  // null: ask the server where the upload stands before sending on.
  let offset = 0;
  if (!item.upload) {
    // The same file into the same folder after a reload or a crash: on from where it was.
    const earlier = rememberedUpload(item);
    if (earlier) {
      item.upload = earlier;
      offset = await durableOffset(item).catch(() => null);
      if (offset === null || offset >= file.size) {
        forgetUpload(item);
        item.upload = null;
        offset = 0;
      }
    }
  }
  if (!item.upload) {
    const metadata = [`filename ${base64(uploadName(item))}`, `folder ${base64(item.folder)}`];
    if (file.type) metadata.push(`content_type ${base64(file.type)}`);
    const created = await send(item, 'POST', '/api/v1/uploads', {
      'Tus-Resumable': '1.0.0',
      'Upload-Length': String(file.size),
      'Upload-Metadata': metadata.join(','),
    }, null);
    const location = created.header('Location');
    if (created.status !== 201 || !location) throw apiErrorFrom(created.status, created.statusText, created.body);
    item.upload = new URL(location, window.location.href).pathname;
    rememberUpload(item);
  }
  let failures = 0;
  for (;;) {
    try {
      if (item.status === 'cancelled') throw new DOMException('cancelled', 'AbortError');
      if (offset === null) offset = await durableOffset(item);
      const sent = await sendChunk(item, offset);
      failures = 0;
      offset = sent.offset;
      if (sent.fileId) {
        forgetUpload(item);
        return api('GET', fileUrl({ id: sent.fileId }));
      }
    } catch (error) {
      if (item.status === 'cancelled' || error?.name === 'AbortError') throw error;
      const retryable = error instanceof TypeError || (error instanceof ApiError && (error.status === 409 || error.status >= 500));
      failures += 1;
      if (error instanceof ApiError && (error.status === 404 || error.status === 410)) forgetUpload(item);
      if (!retryable || failures > TUS_MAX_RETRIES) throw error;
      await waitToResume(item, failures);
      offset = null;
    }
  }
}

/**
 * Where an unfinished resumable upload of this user's, of this file into this folder, is
 * kept across reloads: only its address, which is nothing without the session (the
 * session itself is never stored, see the top of this file).
 */
function uploadMemoryKey(item) {
  const { name, size, lastModified } = item.file;
  return `${UPLOAD_MEMORY_PREFIX}${JSON.stringify([state.session?.user.id, item.folder, name, size, lastModified])}`;
}

const UPLOAD_MEMORY_PREFIX = 'drip.upload:';

/**
 * After a reload: this user's unfinished resumable uploads of an earlier page, each listed
 * with how much the server holds, to be picked again (which goes on from there); those the
 * server no longer has are forgotten.
 */
async function showRememberedUploads() {
  const me = state.session?.user.id;
  let kept = [];
  try {
    kept = Object.keys(localStorage).filter((key) => key.startsWith(UPLOAD_MEMORY_PREFIX));
  } catch {
    return;
  }
  const list = byId('upload-remembered');
  list.replaceChildren();
  for (const key of kept) {
    let parts = null;
    try {
      parts = JSON.parse(key.slice(UPLOAD_MEMORY_PREFIX.length));
    } catch {
      // Not one of ours.
    }
    if (!Array.isArray(parts) || parts[0] !== me) continue;
    const [, folder, name, size] = parts;
    const address = rememberedUploadAt(key);
    const answer = address ? await tusRequest('HEAD', address).catch(() => null) : null;
    if (!answer) continue;
    const offset = Number(answer.header('Upload-Offset'));
    if (answer.status !== 200 || !Number.isSafeInteger(offset) || !(size > 0)) {
      if (answer.status === 404 || answer.status === 410) forgetUploadAt(key);
      continue;
    }
    const percent = Math.floor((offset / size) * 100);
    list.append(el('li', { class: 'muted', 'data-memory': key, text: `${name} (into ${folder}): ${percent}% stored. Choose the same file again to go on.` }));
  }
  if (list.children.length) byId('upload-panel').hidden = false;
}

function rememberedUploadAt(key) {
  try {
    const address = localStorage.getItem(key);
    return address?.startsWith('/api/v1/uploads/') ? address : null;
  } catch {
    return null;
  }
}

function forgetUploadAt(key) {
  try {
    localStorage.removeItem(key);
  } catch {
    // Nothing kept.
  }
}

function rememberedUpload(item) {
  const key = uploadMemoryKey(item);
  // Its line among the uploads of an earlier page goes: it is under way again.
  for (const line of document.querySelectorAll('#upload-remembered li')) if (line.dataset.memory === key) line.remove();
  return rememberedUploadAt(key);
}

function rememberUpload(item) {
  try {
    localStorage.setItem(uploadMemoryKey(item), item.upload);
  } catch {
    // Storage full or off: the upload still goes, it just cannot outlive the page.
  }
}

function forgetUpload(item) {
  forgetUploadAt(uploadMemoryKey(item));
}

/** Sends the chunk at `offset`; answers the new offset and, once complete, the file's id. */
async function sendChunk(item, offset) {
  const end = Math.min(offset + TUS_CHUNK_BYTES, item.file.size);
  item.attemptStarted ??= performance.now();
  item.attemptFrom ??= offset;
  const answer = await send(item, 'PATCH', item.upload, {
    'Tus-Resumable': '1.0.0',
    'Upload-Offset': String(offset),
    'Content-Type': 'application/offset+octet-stream',
  }, item.file.slice(offset, end), (loaded) => {
    item.loaded = offset + loaded;
    renderUploadItem(item);
  });
  if (answer.status !== 204) throw apiErrorFrom(answer.status, answer.statusText, answer.body);
  const next = Number(answer.header('Upload-Offset'));
  if (!Number.isSafeInteger(next) || next < offset) throw new ApiError(500, 'internal', 'a bad Upload-Offset', null);
  item.loaded = next;
  renderUploadItem(item);
  return { offset: next, fileId: answer.header('Drip-File-Id') };
}

/** Where the server has the upload (tus HEAD). */
async function durableOffset(item) {
  const answer = await send(item, 'HEAD', item.upload, { 'Tus-Resumable': '1.0.0' }, null);
  const offset = Number(answer.header('Upload-Offset'));
  if (answer.status !== 200 || !Number.isSafeInteger(offset)) throw apiErrorFrom(answer.status, answer.statusText, null);
  item.loaded = offset;
  item.attemptStarted = performance.now();
  item.attemptFrom = offset;
  return offset;
}

/** Waits until the network is back (offline), or a growing while (a failing server). */
function waitToResume(item, failures) {
  item.status = 'waiting';
  const offline = navigator.onLine === false;
  const delay = Math.min(1000 * 2 ** (failures - 1), TUS_RETRY_MAX_MS);
  item.note = offline ? 'waiting for the network to resume' : `connection lost: resuming in ${Math.round(delay / 1000)} s`;
  renderUploadItem(item);
  return new Promise((resolve) => {
    const done = () => {
      window.removeEventListener('online', done);
      clearTimeout(timer);
      item.wake = null;
      if (item.status === 'waiting') item.status = 'uploading';
      renderUploadItem(item);
      resolve();
    };
    item.wake = done;
    const timer = offline ? 0 : setTimeout(done, delay);
    if (offline) window.addEventListener('online', done);
  });
}

/** Every file below a dropped directory entry, with the folder it goes to. */
async function filesOfEntry(entry, folder, prefix) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    return [{ file, folder, label: `${prefix}${file.name}` }];
  }
  const reader = entry.createReader();
  const children = [];
  for (;;) {
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) break;
    children.push(...batch);
  }
  const below = childOf(folder, entry.name);
  const nested = await Promise.all(children.map((child) => filesOfEntry(child, below, `${prefix}${entry.name}/`)));
  return nested.flat();
}

/** What a drop carries: files, and the files of dropped folders (kept in their folders). */
async function droppedUploads(dataTransfer) {
  const folder = state.path;
  // Entries must be taken before the first await: the drop's data goes away after it.
  const entries = [...(dataTransfer.items ?? [])]
    .filter((item) => item.kind === 'file')
    .map((item) => item.webkitGetAsEntry?.() ?? null);
  const files = [...(dataTransfer.files ?? [])];
  if (!entries.length || entries.some((entry) => entry === null)) {
    return files.map((file) => ({ file, folder, label: file.name }));
  }
  const found = await Promise.all(entries.map((entry) => filesOfEntry(entry, folder, '')));
  return found.flat();
}

/** The files of an `<input webkitdirectory>`, each into its folder below the one shown. */
function pickedFolderUploads(files) {
  return files.map((file) => {
    const parts = (file.webkitRelativePath || file.name).split('/').slice(0, -1);
    const folder = parts.reduce((path, part) => childOf(path, part), state.path);
    return { file, folder, label: file.webkitRelativePath || file.name };
  });
}

function wireUploads() {
  // Chosen is sent: no second click on an Upload button.
  const input = byId('upload-file');
  input.addEventListener('change', () => {
    const files = [...(input.files ?? [])];
    input.value = '';
    enqueueUploads(files.map((file) => ({ file, folder: state.path, label: file.name })));
  });
  const folderInput = byId('upload-folder');
  folderInput.addEventListener('change', () => {
    const files = [...(folderInput.files ?? [])];
    folderInput.value = '';
    enqueueUploads(pickedFolderUploads(files));
  });
  byId('upload-clear').addEventListener('click', clearFinishedUploads);
  const zone = byId('files-view');
  const carriesFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes('Files');
  let depth = 0;
  zone.addEventListener('dragenter', (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth += 1;
    zone.classList.add('drop-target');
  });
  zone.addEventListener('dragover', (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
  });
  zone.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) zone.classList.remove('drop-target');
  });
  zone.addEventListener('drop', (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth = 0;
    zone.classList.remove('drop-target');
    droppedUploads(event.dataTransfer).then(enqueueUploads, report);
  });
  // Anywhere else on the page (the side panel, the header): a drop while the files are
  // shown goes to this folder too; elsewhere (the trash, the login) it is refused. Never
  // does the browser open the file and leave Drip.
  const filesShown = () => Boolean(state.session) && !zone.hidden;
  document.addEventListener('dragover', (event) => {
    if (!carriesFiles(event) || zone.contains(event.target)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = filesShown() ? 'copy' : 'none';
  });
  document.addEventListener('drop', (event) => {
    if (!carriesFiles(event) || zone.contains(event.target)) return;
    event.preventDefault();
    if (filesShown()) droppedUploads(event.dataTransfer).then(enqueueUploads, report);
  });
  window.addEventListener('beforeunload', (event) => {
    if (!uploadsBusy()) return;
    event.preventDefault();
    // Older browsers show the dialog only when returnValue is set.
    event.returnValue = '';
  });
}

/** A file stored: its confirmation (the `upload` event) is flashed when `alone` in its batch. */
function uploaded(file, alone = true) {
  const confirmation = state.confirmedEarly.get(file.id);
  if (confirmation !== undefined) {
    // The pipeline was quicker than the answer: its confirmation is already here.
    state.confirmedEarly.delete(file.id);
    if (alone) flash(confirmation);
  } else if (alone) {
    state.awaitingConfirmation.add(file.id);
    flash(TEXT.uploadEnqueued);
  }
  reloadFolder();
  refreshUsage();
}

// ---------------------------------------------------------------------------------------
// Rename, move, delete, share: one dialog

/**
 * Opens the dialog. `run(value)` does the work; while it fails the dialog stays open with
 * the error (`explain(error, value)` may word it), and on success it closes. Answers
 * whether the work was done.
 */
function openDialog({ title, text, label, value = '', submit = 'OK', danger = false, cancelable = true, extra = null, onchange = null, run, explain }) {
  const dialog = byId('dialog');
  const form = byId('dialog-form');
  const input = byId('dialog-input');
  const problem = byId('dialog-error');
  const ok = byId('dialog-ok');
  const cancel = byId('dialog-cancel');
  byId('dialog-title').textContent = title;
  byId('dialog-text').textContent = text ?? '';
  byId('dialog-text').hidden = !text;
  byId('dialog-label').hidden = !label;
  byId('dialog-label-text').textContent = label ?? '';
  input.value = value;
  // The input is shared by every dialog: only this one's handler (a folder picker's) stays.
  input.onchange = onchange;
  problem.textContent = '';
  problem.hidden = true;
  ok.textContent = submit;
  ok.disabled = false;
  ok.className = danger ? 'danger' : '';
  // A dialog that only shows something (a preview, a link shown once) has one way out.
  cancel.hidden = !cancelable;
  byId('dialog-extra').replaceChildren(...(extra ? [extra] : []));
  const showProblem = (message) => {
    problem.textContent = message;
    problem.hidden = false;
  };
  return new Promise((resolve) => {
    const finish = (done) => {
      form.onsubmit = null;
      cancel.onclick = null;
      dialog.onclose = null;
      if (dialog.open) dialog.close();
      resolve(done);
    };
    form.onsubmit = async (event) => {
      event.preventDefault();
      const given = label ? input.value : '';
      if (label && !given.trim()) {
        showProblem(`${label} cannot be empty.`);
        return;
      }
      ok.disabled = true;
      try {
        await run(given);
        finish(true);
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) {
          finish(false);
          report(error);
          return;
        }
        showProblem((explain && explain(error, given)) || describe(error));
        ok.disabled = false;
      }
    };
    cancel.onclick = () => finish(false);
    // Escape closes it; the close event of a dialog closed just before this one opened
    // (one dialog after another) arrives while this one is open, and is not this one's.
    dialog.onclose = () => {
      if (!dialog.open) finish(false);
    };
    dialog.showModal();
    if (label) {
      input.focus();
      input.select();
    }
  });
}

function afterChange(message) {
  flash(message);
  reloadFolder();
  refreshUsage();
}

/** How a dialog changes one field of a file: renaming sets `name`, moving sets `folder`. */
const FILE_CHANGES = {
  // Names lose surrounding spaces (" report.pdf " is a mistake, not a name).
  name: { verb: 'Rename', label: 'New name', past: 'renamed to', clean: (text) => text.trim(), show: (name) => `"${name}"` },
  folder: { verb: 'Move', label: 'To folder', past: 'moved to', clean: (text) => typedFolder(text), show: (folder) => folder },
};

/**
 * A folder as people type it, as the API spells it: `Docs`, `/Docs` and `$/Docs/` are all
 * `$/Docs` (from the top, as the picker and the breadcrumb count); `/` is the root.
 */
function typedFolder(text) {
  let folder = text.trim();
  while (folder.length > 1 && folder.endsWith('/')) folder = folder.slice(0, -1);
  if (folder === '/' || folder === ROOT) return ROOT;
  if (folder.startsWith(`${ROOT}/`)) return folder;
  return `${ROOT}/${folder.replace(/^\/+/, '')}`;
}

/**
 * A folder picker for a move: the folders in the one `input` names, to click through (and
 * up), each click putting its path in `input`. A new folder is typed as a path. Answers
 * the dialog options `{extra, onchange}`.
 */
function folderPicker(input, start) {
  const heading = el('p', { class: 'picker-heading' });
  const list = el('ul', { class: 'picker', 'aria-label': 'Folders' });
  let shown = '';
  const show = async (path) => {
    shown = path;
    heading.textContent = `Folders in ${path}:`;
    const choose = (target) =>
      el('li', {}, el('button', {
        type: 'button',
        class: 'link-button',
        text: target === parentOf(path) && path !== ROOT ? `↑ ${target}` : `${target.slice(target.lastIndexOf('/') + 1)}/`,
        'aria-label': `Choose ${target}`,
        onclick: () => {
          input.value = target;
          show(target);
        },
      }));
    const items = path === ROOT ? [] : [choose(parentOf(path))];
    try {
      const listing = await api('GET', `/api/v1/folders?${new URLSearchParams({ path, limit: '1' })}`);
      if (shown !== path) return;
      for (const folder of Array.isArray(listing.folders) ? listing.folders : []) items.push(choose(childOf(path, folder.name)));
      if (items.length === (path === ROOT ? 0 : 1)) items.push(el('li', { class: 'muted', text: 'No folders below this one.' }));
    } catch {
      if (shown !== path) return;
      items.push(el('li', { class: 'muted', text: 'A new folder: it is made by the move.' }));
    }
    list.replaceChildren(...items);
  };
  // openDialog sets it as the input's change handler, and clears it for the next dialog.
  const onchange = () => {
    const typed = input.value.trim() ? typedFolder(input.value) : '';
    if (typed && typed !== shown) show(typed);
  };
  show(start);
  return { extra: el('div', { class: 'folder-picker' }, heading, list), onchange };
}

/** Why `name` cannot name a file or folder (`what`; the server's rules for a name), or null. */
function nameProblem(name, what = 'folder') {
  if (!name) return `A ${what} name cannot be empty.`;
  if (name.includes('/')) return `A ${what} name cannot contain "/".`;
  if (name === '.' || name === '..') return `A ${what} name cannot be "." or "..".`;
  if (new TextEncoder().encode(name).length > 255) return `A ${what} name is at most 255 bytes.`;
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return `A ${what} name cannot contain control characters.`;
  return null;
}

/**
 * Opens a new, empty folder below the current one. Folders are where files are: it lasts
 * once a file is uploaded (or moved) into it.
 */
async function newFolder() {
  let created = '';
  const done = await openDialog({
    title: 'New folder',
    text: 'It is kept once it holds a file: upload into it, or move files there.',
    label: 'Folder name',
    submit: 'Create',
    run: async (value) => {
      const name = value.trim();
      const problem = nameProblem(name);
      if (problem) throw new Error(problem);
      created = childOf(state.path, name);
    },
    explain: (error) => error.message,
  });
  if (done) navigate(created);
}

/**
 * Asks for a ZIP of the folder shown: a job builds it, and the `download` event brings a
 * link that downloads it.
 */
async function downloadFolder() {
  const folder = state.path;
  try {
    await api('POST', '/api/v1/archives', { body: { folder } });
    flash(`A ZIP of ${folder} is being prepared: a notification will say when it is ready.`);
    loadArchives();
  } catch (error) {
    report(error);
  }
}

/** Asks for a new value of the file's `field` (see FILE_CHANGES), saves it and says so. */
async function changeFile(file, field) {
  const change = FILE_CHANGES[field];
  let changed = '';
  const done = await openDialog({
    title: `${change.verb} "${file.name}"`,
    label: change.label,
    value: file[field],
    submit: change.verb,
    ...(field === 'folder' ? folderPicker(byId('dialog-input'), file.folder) : {}),
    run: async (value) => {
      const cleaned = change.clean(value);
      const problem = field === 'name' ? nameProblem(cleaned, 'file') : null;
      if (problem) throw new Error(problem);
      // Unchanged (its own name, its own folder): nothing to do, and no "already exists".
      if (cleaned === file[field]) return;
      const updated = await api('PATCH', fileUrl(file), { body: { [field]: cleaned } });
      changed = updated[field];
    },
    explain: (error) => (error instanceof ApiError ? null : error.message),
  });
  if (done && changed) afterChange(`"${file.name}" was ${change.past} ${change.show(changed)}.`);
}

async function deleteFile(file) {
  const done = await openDialog({
    title: `Delete "${file.name}"?`,
    text: 'It goes to the trash: gone for everyone it is shared with, until you restore it.',
    submit: 'Delete',
    danger: true,
    run: () => api('DELETE', fileUrl(file)),
  });
  if (done) afterChange(`"${file.name}" was moved to the trash.`);
}

/** The last segment of a folder's path: its name. */
function folderName(path) {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Words for a refused folder move or rename. */
function folderMoveProblem(error, to) {
  if (!(error instanceof ApiError)) return error.message;
  switch (error.code) {
    case 'folder_exists':
      return `You already have a folder ${to}: choose another name or place.`;
    case 'folder_not_found':
      return 'None of the files in this folder are yours: only the people who shared them can move them.';
    case 'folder_overlaps':
      return 'A folder cannot go into itself or into one of its own subfolders.';
    case 'folder_too_deep':
      return 'Its subfolders would be too deep there (at most 64 levels, 1024 bytes).';
    default:
      return null;
  }
}

/** Moves folder `from` to `to` (`run` of a dialog); answers what the server says. */
async function relocateFolder(from, to) {
  if (to === from) return null;
  return api('POST', '/api/v1/folders/move', { body: { from, to } });
}

/** Renames a folder (and everything of the user's in it) in place. */
async function renameFolder(path) {
  const old = folderName(path);
  let moved = null;
  let to = path;
  const done = await openDialog({
    title: `Rename folder "${old}"`,
    text: 'Your files in it and in its subfolders keep their shares and links.',
    label: 'New name',
    value: old,
    submit: 'Rename',
    run: async (value) => {
      const name = value.trim();
      const problem = nameProblem(name);
      if (problem) throw new Error(problem);
      to = childOf(parentOf(path), name);
      moved = await relocateFolder(path, to);
    },
    explain: (error) => folderMoveProblem(error, to),
  });
  if (done && moved) afterChange(`Folder "${old}" was renamed to "${folderName(to)}" (${plural(moved.moved, 'file')}).`);
}

/** Moves a folder (and everything of the user's in it) into another one, with the picker. */
async function moveFolder(path) {
  const name = folderName(path);
  let moved = null;
  let to = path;
  const done = await openDialog({
    title: `Move folder "${name}"`,
    text: 'Your files in it and in its subfolders go along, with their shares and links.',
    label: 'Into folder',
    value: parentOf(path),
    submit: 'Move',
    ...folderPicker(byId('dialog-input'), parentOf(path)),
    run: async (value) => {
      to = childOf(typedFolder(value), name);
      moved = await relocateFolder(path, to);
    },
    explain: (error) => folderMoveProblem(error, to),
  });
  if (done && moved) afterChange(`Folder "${name}" was moved to ${parentOf(to)} (${plural(moved.moved, 'file')}).`);
}

/** Sends the user's files in a folder (and below) to the trash. */
async function deleteFolder(path) {
  const name = folderName(path);
  let outcome = null;
  const done = await openDialog({
    title: `Delete folder "${name}"?`,
    text: 'Your files in it and in its subfolders go to the trash: gone for everyone they are shared with, until you restore them. Files shared with you stay.',
    submit: 'Delete',
    danger: true,
    run: async () => {
      outcome = await api('DELETE', `/api/v1/folders?${new URLSearchParams({ path })}`);
    },
    explain: (error) =>
      error instanceof ApiError && error.code === 'folder_not_found' ? 'This folder holds nothing any more.' : null,
  });
  if (!done || !outcome) return;
  const kept = outcome.kept ? ` ${plural(outcome.kept, 'file')} shared with you stayed.` : '';
  afterChange(`Folder "${name}": ${plural(outcome.deleted, 'file')} moved to the trash.${kept}`);
}

// ---------------------------------------------------------------------------------------
// Search

/** A file found by a search: its name downloads it, its folder opens the folder. */
function foundFile(file, ...below) {
  const by = file.shared_by ? ` (shared by ${file.shared_by})` : '';
  return el('li', {}, fileLink(file), ' in ', folderLink(file.folder, file.folder, 'folder-link'), by, ...below);
}

/**
 * Searches the files below the current folder: by part of their name (`kind` "names") or
 * for lines of their contents matching an expression ("contents"); lists what matched.
 */
async function search(query, kind) {
  const box = byId('search-results');
  const list = byId('search-matches');
  const title = byId('search-title');
  const byName = kind === 'names';
  let found;
  try {
    const params = new URLSearchParams({ q: query, folder: state.path });
    found = await api('GET', `/api/v1/search${byName ? '/names' : ''}?${params}`);
  } catch (error) {
    report(error);
    return;
  }
  // The error of an earlier, bad expression is stale now.
  if (byId('flash').classList.contains('flash-error')) flash('');
  if (byName) {
    const files = Array.isArray(found.files) ? found.files : [];
    title.textContent =
      `${plural(files.length, 'file')} below ${state.path} named like "${query}"` +
      (found.truncated ? ' (the first ones only: type more of the name)' : '');
    list.replaceChildren(...files.map((file) => foundFile(file)));
  } else {
    const matches = Array.isArray(found.matches) ? found.matches : [];
    const missed = (found.timed_out?.length ?? 0) + (found.failed?.length ?? 0);
    title.textContent =
      `${plural(matches.length, 'file')} below ${state.path} match "${query}"` +
      (missed ? ` (${plural(missed, 'file')} could not be searched)` : '');
    list.replaceChildren(
      ...matches.map((match) =>
        foundFile(match.file, ...match.lines.map((line) => el('pre', { text: `${line.line_no}: ${line.line}` }))),
      ),
    );
  }
  box.hidden = false;
  title.focus();
}

// ---------------------------------------------------------------------------------------
// Sharing: what the user shares, and what is shared with them

/** Shows the sharing overview. */
function showShares() {
  showOnly('shares-view');
  loadShares();
  byId('shares-title').focus();
}

async function loadShares() {
  let overview;
  try {
    overview = await api('GET', '/api/v1/me/shares');
  } catch (error) {
    report(error);
    return;
  }
  const outgoing = Array.isArray(overview.outgoing) ? overview.outgoing : [];
  const incoming = Array.isArray(overview.incoming) ? overview.incoming : [];
  const again = (action) => async () => {
    await action();
    if (!byId('shares-view').hidden) loadShares();
  };
  const none = (text) => [el('li', { class: 'muted', text })];
  byId('shares-outgoing').replaceChildren(
    ...(outgoing.length
      ? outgoing.map(({ file, with: sharees }) =>
          foundFile(
            file,
            el('span', { class: 'muted', text: ` with ${sharees.join(', ')} ` }),
            actionButton('manage', `the shares of ${file.name}`, again(() => shareFile(file))),
          ),
        )
      : none('You share no file. Share one from its row in your files.')),
  );
  byId('shares-incoming').replaceChildren(
    ...(incoming.length
      ? incoming.map(({ file }) =>
          foundFile(file, ' ', actionButton('leave', `${file.name} (shared by ${file.shared_by})`, again(() => leaveShare(file)))),
        )
      : none('No file is shared with you.')),
  );
  byId('shares-truncated').hidden = !overview.truncated;
}

// ---------------------------------------------------------------------------------------
// The account: who, how much, a new password, closing it

/** Shows the account page. */
function showAccount() {
  showOnly('account-view');
  for (const id of ['password-form', 'close-form']) byId(id).reset();
  for (const id of ['password-error', 'close-error']) byId(id).hidden = true;
  const user = state.session.user;
  const facts = [
    ['Username', user.username],
    ['Email', user.email],
    ['Storage', byId('usage').textContent || '…'],
  ];
  byId('account-facts').replaceChildren(...facts.flatMap(([term, value]) => [el('dt', { text: term }), el('dd', { text: value })]));
  loadSessions();
  byId('account-title').focus();
}

/** A client's self-description (its User-Agent) in words: "Firefox on Linux". */
function clientName(agent) {
  if (!agent) return 'A program without a name (an API client or a script)';
  const browsers = [[/Edg\//, 'Edge'], [/OPR\//, 'Opera'], [/Firefox\//, 'Firefox'], [/Chrom(e|ium)\//, 'Chrome'], [/Safari\//, 'Safari']];
  const systems = [[/Android/, 'Android'], [/iPhone|iPad/, 'iOS'], [/CrOS/, 'ChromeOS'], [/Windows/, 'Windows'], [/Mac OS X/, 'macOS'], [/Linux/, 'Linux']];
  const browser = browsers.find(([pattern]) => pattern.test(agent))?.[1];
  const system = systems.find(([pattern]) => pattern.test(agent))?.[1];
  if (browser) return system ? `${browser} on ${system}` : browser;
  const first = agent.split(' ')[0];
  return first.length > 40 ? `${first.slice(0, 40)}…` : first;
}

/** Lists the user's open sessions on the account page, each with a way to end it. */
async function loadSessions() {
  let listed;
  try {
    listed = await api('GET', '/api/v1/me/sessions');
  } catch (error) {
    return report(error);
  }
  const sessions = Array.isArray(listed.sessions) ? listed.sessions : [];
  const others = sessions.filter((session) => !session.current);
  byId('session-list').replaceChildren(
    ...sessions.map((session) => {
      const name = clientName(session.client);
      const active = `last active ${new Date(session.last_active_at).toLocaleString()}`;
      const facts = `${active}, logged in ${new Date(session.started_at).toLocaleString()}`;
      return el(
        'li',
        { class: 'session' },
        el('span', { class: 'session-name', title: session.client ?? '', text: name }),
        session.current ? el('span', { class: 'badge', text: 'this browser' }) : null,
        el('span', { class: 'muted', text: facts }),
        session.current
          ? null
          : actionButton('log out there', `(${name}, ${active})`, () => endSessions([session])),
      );
    }),
  );
  byId('end-other-sessions').hidden = others.length === 0;
  byId('end-other-sessions').onclick = () => endSessions(others);
}

/** Ends `sessions` (none of them this one), then lists what is left. */
async function endSessions(sessions) {
  for (const session of sessions) {
    try {
      await api('DELETE', `/api/v1/me/sessions/${encodeURIComponent(session.id)}`);
    } catch (error) {
      // Ended meanwhile (logged out there, or expired): what was wanted.
      if (!(error instanceof ApiError && error.code === 'session_not_found')) return report(error);
    }
  }
  flash(sessions.length === 1 ? 'That session was logged out.' : 'Your other sessions were logged out.');
  await loadSessions();
}

/** Shows `message` under a form (empty: hides it). */
function formProblem(id, message) {
  const slot = byId(id);
  slot.textContent = message;
  slot.hidden = !message;
}

async function changePassword(form) {
  const fields = form.elements;
  const current = fields.namedItem('current').value;
  const next = fields.namedItem('new').value;
  formProblem('password-error', '');
  if (!current) return formProblem('password-error', 'Type your current password.');
  if ([...next].length < 8 || [...next].length > 100) {
    return formProblem('password-error', 'A new password has 8 to 100 characters.');
  }
  if (next !== fields.namedItem('again').value) {
    return formProblem('password-error', 'The two new passwords are not the same.');
  }
  try {
    await api('PUT', '/api/v1/me/password', { body: { current_password: current, new_password: next } });
  } catch (error) {
    // A wrong password here is not a lost session.
    if (error instanceof ApiError && error.code === 'invalid_credentials') {
      fields.namedItem('current').value = '';
      return formProblem('password-error', 'That is not your current password.');
    }
    if (error instanceof ApiError && error.code === 'too_many_attempts') return formProblem('password-error', describe(error));
    return report(error);
  }
  form.reset();
  flash('Your password was changed. Your other sessions were logged out.');
  loadSessions();
}

async function closeAccount(form) {
  const password = form.elements.namedItem('password').value;
  formProblem('close-error', '');
  if (!password) return formProblem('close-error', 'Type your password to confirm.');
  const sure = await openDialog({
    title: 'Close your account for good?',
    text: 'Every file you stored is deleted, with its shares and links. This cannot be undone.',
    submit: 'Close my account',
    danger: true,
    run: async () => {},
  });
  if (!sure) return;
  const session = state.session;
  try {
    await api('DELETE', '/api/v1/me', { body: { password } });
  } catch (error) {
    if (error instanceof ApiError && error.code === 'invalid_credentials') {
      form.elements.namedItem('password').value = '';
      return formProblem('close-error', 'That is not your password.');
    }
    if (error instanceof ApiError && ['too_many_attempts', 'uploads_running'].includes(error.code)) {
      return formProblem('close-error', describe(error));
    }
    return report(error);
  }
  // Every tab of this session goes to the login page with it.
  sessionChannel?.postMessage({ type: 'logout', refresh_token: session.refresh_token });
  signedOut('Your account was closed, and everything in it deleted.');
}

// ---------------------------------------------------------------------------------------
// The trash

/** Shows the trash. */
function showTrash() {
  showOnly('trash-view');
  loadTrash();
  byId('trash-title').focus();
}

/** Shows the trash (`cursor` null) or appends its next page. */
async function loadTrash(cursor = null) {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (cursor) query.set('cursor', cursor);
  const more = byId('trash-more');
  more.disabled = true;
  let page;
  try {
    page = await api('GET', `/api/v1/trash?${query}`);
  } catch (error) {
    more.disabled = false;
    report(error);
    return;
  }
  const items = Array.isArray(page.items) ? page.items : [];
  const body = byId('trash-entries');
  if (cursor) body.append(...items.map(trashRow));
  else body.replaceChildren(...items.map(trashRow));
  const none = body.rows.length === 0;
  byId('trash-empty').hidden = !none;
  byId('empty-trash').disabled = none;
  state.trashCursor = page.next_cursor ?? null;
  more.hidden = !state.trashCursor;
  more.disabled = false;
}

function trashRow(file) {
  const action = (label, handler, danger = false) => actionButton(label, file.name, handler, danger);
  const purgeOn = new Date(file.purge_at);
  return el(
    'tr',
    {},
    cell('name', el('span', { text: file.name })),
    cell('name', el('span', { text: file.folder })),
    el('td', { class: 'num', title: `${file.size} bytes`, text: formatBytes(file.size) }),
    el('td', { class: 'num', title: file.purge_at, text: purgeOn.toLocaleDateString() }),
    cell('actions', action('restore', () => restoreFile(file)), action('delete forever', () => purgeFile(file), true)),
  );
}

/** Restores a file; when its name is taken again, asks for another. */
async function restoreFile(file) {
  const restore = (name) =>
    api('POST', `/api/v1/trash/${encodeURIComponent(file.id)}/restore`, name === undefined ? {} : { body: { name } });
  try {
    await restore();
    flash(`"${file.name}" is back in ${file.folder}.`);
  } catch (error) {
    if (!(error instanceof ApiError && error.code === 'already_exists')) {
      report(error);
      return;
    }
    let restoredAs = '';
    const done = await openDialog({
      title: `Restore "${file.name}"`,
      text: `${file.folder} holds another "${file.name}" now: restore it under another name.`,
      label: 'Restore as',
      value: numberedName(file.name, 1),
      submit: 'Restore',
      run: async (value) => {
        await restore(value.trim());
        restoredAs = value.trim();
      },
    });
    if (!done) return;
    flash(`"${file.name}" is back in ${file.folder} as "${restoredAs}".`);
  }
  loadTrash();
  refreshUsage();
}

async function purgeFile(file) {
  const done = await openDialog({
    title: `Delete "${file.name}" forever?`,
    text: 'It cannot be restored afterwards.',
    submit: 'Delete forever',
    danger: true,
    run: () => api('DELETE', `/api/v1/trash/${encodeURIComponent(file.id)}`),
  });
  if (!done) return;
  flash(`"${file.name}" was deleted for good.`);
  loadTrash();
  refreshUsage();
}

async function emptyTrash() {
  let purged = 0;
  const done = await openDialog({
    title: 'Empty the trash?',
    text: 'Every file in it is deleted for good.',
    submit: 'Empty trash',
    danger: true,
    run: async () => {
      purged = (await api('DELETE', '/api/v1/trash')).purged ?? 0;
    },
  });
  if (!done) return;
  flash(`${plural(purged, 'file')} deleted for good.`);
  // Its button is disabled now, the trash empty: the focus goes to the trash's title.
  byId('trash-title').focus();
  loadTrash();
  refreshUsage();
}

/** The people a file is shared with, each with a button to withdraw the share. */
function sharesList(file) {
  const list = el('ul', { class: 'shares' }, el('li', { class: 'muted', text: 'Loading shares…' }));
  const withdraw = async (username, item) => {
    try {
      await api('DELETE', `${fileUrl(file)}/shares/${encodeURIComponent(username)}`);
      item.remove();
      if (!list.children.length) list.append(el('li', { class: 'muted', text: 'Not shared with anyone yet.' }));
    } catch (error) {
      item.append(el('span', { class: 'field-error', text: describe(error) }));
    }
  };
  api('GET', `${fileUrl(file)}/shares`)
    .then(({ shares }) => {
      const items = (Array.isArray(shares) ? shares : []).map((share) => {
        const item = el('li', {}, el('span', { text: share.username }));
        item.append(
          el('button', {
            type: 'button',
            class: 'action',
            text: 'withdraw',
            'aria-label': `Withdraw the share with ${share.username}`,
            onclick: () => withdraw(share.username, item),
          }),
        );
        return item;
      });
      list.replaceChildren(...(items.length ? items : [el('li', { class: 'muted', text: 'Not shared with anyone yet.' })]));
    })
    .catch((error) => list.replaceChildren(el('li', { class: 'field-error', text: describe(error) })));
  return list;
}

/**
 * The people one shares files with, either way (`/me/share-partners`), as buttons that put
 * their username in `input`: a share dialog suggests only people one already has a file in
 * common with, so no one learns of other users' names from it (decision 0023).
 */
function partnerChoices(input) {
  const list = el('ul', { class: 'choices', 'aria-label': 'People you share with' }, el('li', { class: 'muted', text: 'Loading…' }));
  api('GET', '/api/v1/me/share-partners')
    .then(({ users }) => {
      const me = state.session?.user.username;
      const names = (Array.isArray(users) ? users : []).map((user) => String(user.username)).filter((name) => name !== me);
      const choose = (name) =>
        el('li', {}, el('button', {
          type: 'button',
          class: 'link-button',
          text: name,
          'aria-label': `Choose ${name}`,
          onclick: () => {
            input.value = name;
            input.focus();
          },
        }));
      list.replaceChildren(...(names.length ? names.map(choose) : [el('li', { class: 'muted', text: 'No one yet: type their username.' })]));
    })
    .catch((error) => list.replaceChildren(el('li', { class: 'field-error', text: describe(error) })));
  return el('div', {}, el('p', { class: 'muted', text: 'People you share with:' }), list);
}

async function shareFile(file) {
  let sharedWith = '';
  const done = await openDialog({
    title: `Share "${file.name}"`,
    label: 'Username',
    submit: 'Share',
    extra: el(
      'div',
      {},
      partnerChoices(byId('dialog-input')),
      el('p', { class: 'muted', text: 'Shared with:' }),
      sharesList(file),
    ),
    run: async (username) => {
      sharedWith = username.trim();
      await api('POST', `${fileUrl(file)}/shares`, { body: { username: sharedWith } });
    },
    explain: (error, username) =>
      error instanceof ApiError && error.code === 'user_not_found' ? TEXT.userNotFound(username.trim()) : null,
  });
  if (done) flash(TEXT.shared(sharedWith));
}

/** A sharee gives a file shared with them back: it leaves their folders. */
async function leaveShare(file) {
  const me = state.session.user.username;
  const done = await openDialog({
    title: `Leave "${file.name}"?`,
    text: `It is no longer shared with you${file.shared_by ? ` (${file.shared_by} keeps it)` : ''}.`,
    submit: 'Leave',
    danger: true,
    run: () => api('DELETE', `${fileUrl(file)}/shares/${encodeURIComponent(me)}`),
  });
  if (done) afterChange(`You left "${file.name}".`);
}

// ---------------------------------------------------------------------------------------
// Public links

/**
 * A list of links (public or drop), loaded by `load` (which answers them), each shown as
 * `kind` of its creation time with its `facts`, and a button that revokes it at `url(link)`;
 * `none` says there is none.
 */
function revocableList({ load, kind, facts, url, none }) {
  const empty = () => el('li', { class: 'muted', text: none });
  const list = el('ul', { class: 'shares' }, el('li', { class: 'muted', text: 'Loading…' }));
  const revoke = async (link, item) => {
    try {
      await api('DELETE', url(link));
      item.remove();
      if (!list.children.length) list.append(empty());
    } catch (error) {
      item.append(el('span', { class: 'field-error', text: describe(error) }));
    }
  };
  load()
    .then((links) => {
      const items = links.map((link) => {
        const made = `${kind} of ${new Date(link.created_at).toLocaleString()}`;
        const said = [
          link.has_password ? 'password' : null,
          link.expires_at ? `until ${new Date(link.expires_at).toLocaleString()}` : null,
          facts(link),
        ].filter(Boolean);
        const item = el('li', {}, el('span', { text: `${made}: ${said.join(', ')}` }));
        item.append(actionButton('revoke', `the ${made[0].toLowerCase()}${made.slice(1)}`, () => revoke(link, item), true));
        return item;
      });
      list.replaceChildren(...(items.length ? items : [empty()]));
    })
    .catch((error) => list.replaceChildren(el('li', { class: 'field-error', text: describe(error) })));
  return list;
}

/** The links of a file, each with a button to revoke it. */
function linksList(file) {
  return revocableList({
    load: async () => {
      const { links } = await api('GET', `${fileUrl(file)}/links`);
      return Array.isArray(links) ? links : [];
    },
    kind: 'Link',
    facts: (link) =>
      link.max_downloads ? `${link.downloads} of ${link.max_downloads} downloads` : plural(link.downloads, 'download'),
    url: (link) => `/api/v1/links/${encodeURIComponent(link.id)}`,
    none: 'No link yet.',
  });
}

/** Makes a public link to a file with the options asked for, then shows its address once. */
/**
 * The options every link has — a password, an expiry, a most count (`most`: its label and
 * the body field it fills) — as fields, and `fill(body)` that puts what was given in a
 * request body.
 */
function linkGuards(prefix, most) {
  const input = (id, attrs) => el('input', { id: `${prefix}-${id}`, ...attrs });
  const password = input('password', { type: 'password', autocomplete: 'new-password', minlength: '8' });
  const expires = input('expires', { type: 'datetime-local' });
  const count = input('max', { type: 'number', min: '1', step: '1' });
  const fields = [
    el('label', {}, 'Password (optional, 8 characters or more)', password),
    el('label', {}, 'Expires (optional)', expires),
    el('label', {}, `${most.label} (optional)`, count),
  ];
  // Checked here, in words for people (the API's own names the JSON fields).
  const fill = (body) => {
    if (password.value) {
      if ([...password.value].length < 8) throw new Error('The password needs 8 characters or more.');
      body.password = password.value;
    }
    if (expires.value) {
      const at = new Date(expires.value);
      if (Number.isNaN(at.getTime())) throw new Error('The expiry is not a date and time.');
      if (at.getTime() <= Date.now()) throw new Error('The expiry is in the past: choose a later time.');
      body.expires_at = at.toISOString();
    }
    if (count.value) {
      const n = Number(count.value);
      if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${most.label} is a whole number, 1 or more.`);
      body[most.field] = n;
    }
    return body;
  };
  return { fields, fill };
}

async function linkFile(file) {
  const guards = linkGuards('link', { label: 'Most downloads', field: 'max_downloads' });
  const notify = el('input', { id: 'link-notify', type: 'checkbox' });
  const options = el(
    'div',
    { class: 'link-options' },
    ...guards.fields,
    el('label', { class: 'check' }, notify, ' Tell me when it is downloaded'),
    el('p', { class: 'muted', text: 'Links already made:' }),
    linksList(file),
  );
  let created = null;
  const done = await openDialog({
    title: `Public link to "${file.name}"`,
    text: 'Anyone with the link can download the file, without an account.',
    submit: 'Create link',
    extra: options,
    run: async () => {
      const body = guards.fill({});
      if (notify.checked) body.notify = true;
      created = await api('POST', `${fileUrl(file)}/links`, { body });
    },
    explain: (error) => (error instanceof ApiError ? null : error.message),
  });
  if (done && created) await showAddressOnce(new URL(created.url, window.location.origin).href);
}

/** Shows a link's address the one time there is: with a button that copies it. */
async function showAddressOnce(address) {
  const field = el('input', { id: 'link-address', readonly: true, value: address, 'aria-label': 'The link' });
  await openDialog({
    title: 'Your link',
    text: 'Copy it now: it is shown only this once.',
    submit: 'Done',
    cancelable: false,
    extra: el(
      'div',
      { class: 'link-options' },
      field,
      el('button', {
        type: 'button',
        class: 'secondary',
        text: 'Copy',
        onclick: async (event) => {
          field.select();
          try {
            await navigator.clipboard.writeText(address);
            event.currentTarget.textContent = 'Copied';
          } catch {
            event.currentTarget.textContent = 'Select and copy it';
          }
        },
      }),
    ),
    run: async () => {},
  });
}

// ---------------------------------------------------------------------------------------
// Drop links

/** The drop links of the current folder, each with a button to revoke it. */
function dropsList(folder) {
  return revocableList({
    load: async () => {
      const { drops } = await api('GET', '/api/v1/drops');
      return (Array.isArray(drops) ? drops : []).filter((drop) => drop.folder === folder);
    },
    kind: 'Drop link',
    facts: (drop) => (drop.max_uploads ? `${drop.uploads} of ${drop.max_uploads} uploads` : plural(drop.uploads, 'upload')),
    url: (drop) => `/api/v1/drops/${encodeURIComponent(drop.id)}`,
    none: 'No drop link to this folder yet.',
  });
}

/** Makes an upload-only link to the current folder, then shows its address once. */
async function newDrop() {
  const folder = state.path;
  const guards = linkGuards('drop', { label: 'Most uploads', field: 'max_uploads' });
  const options = el(
    'div',
    { class: 'link-options' },
    ...guards.fields,
    el('p', { class: 'muted', text: 'Drop links already made to this folder:' }),
    dropsList(folder),
  );
  let created = null;
  const done = await openDialog({
    title: `Drop link to ${folder}`,
    text: 'Anyone with the link can upload files into this folder, and sees nothing of it.',
    submit: 'Create drop link',
    extra: options,
    run: async () => {
      created = await api('POST', '/api/v1/drops', { body: guards.fill({ folder }) });
    },
    explain: (error) => (error instanceof ApiError ? null : error.message),
  });
  if (done && created) await showAddressOnce(new URL(created.url, window.location.origin).href);
}

// ---------------------------------------------------------------------------------------
// Real-time events and presence

function connect(token) {
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  const socket = new WebSocket(`${scheme}//${window.location.host}/api/v1/events?token=${encodeURIComponent(token)}`);
  socket.addEventListener('open', () => {
    state.reconnectDelay = RECONNECT_MIN_MS;
  });
  socket.addEventListener('message', (event) => onFrame(socket, event.data));
  socket.addEventListener('close', (event) => onSocketClosed(socket, event));
  return socket;
}

function openSocket() {
  closeSocket();
  if (state.session) state.socket = connect(state.session.access_token);
}

/**
 * A new token: the server closes a connection whose token expires, so open one with the
 * new token and drop the old one once the new one speaks (no presence flicker).
 */
function renewSocket() {
  if (!state.session || !state.socket) return;
  state.pendingSocket?.close(1000);
  state.pendingSocket = connect(state.session.access_token);
}

function closeSocket() {
  clearTimeout(state.reconnectTimer);
  const sockets = [state.socket, state.pendingSocket];
  state.socket = null;
  state.pendingSocket = null;
  for (const socket of sockets) socket?.close(1000);
  state.online.clear();
}

function onSocketClosed(socket, event) {
  if (socket === state.pendingSocket) state.pendingSocket = null;
  if (socket !== state.socket) return;
  state.socket = null;
  state.online.clear();
  renderOnline('Reconnecting…');
  if (!state.session) return;
  const delay = event.code === CLOSE_TOKEN_EXPIRED ? 0 : state.reconnectDelay;
  state.reconnectDelay = Math.min(state.reconnectDelay * 2, RECONNECT_MAX_MS);
  clearTimeout(state.reconnectTimer);
  state.reconnectTimer = setTimeout(async () => {
    // The server's word on the session first: one ended elsewhere (a logout on another
    // device, a reused refresh token) answers 401 and ends this tab too, instead of a
    // socket reconnecting forever with a token nobody accepts. An expired token is
    // refreshed on the way.
    try {
      await api('GET', '/api/v1/me');
    } catch (error) {
      if (error instanceof ApiError) {
        if (error.status === 401) {
          sessionLost(error);
          return;
        }
      }
      // Unreachable or failing: the socket's own retries go on, backing off.
    }
    if (state.session && !state.socket) openSocket();
  }, delay);
}

function onFrame(socket, data) {
  if (socket === state.pendingSocket) {
    const old = state.socket;
    state.socket = socket;
    state.pendingSocket = null;
    old?.close(1000);
  }
  if (socket !== state.socket) return;
  let frame;
  try {
    frame = JSON.parse(data);
  } catch {
    return;
  }
  const payload = frame && typeof frame.payload === 'object' && frame.payload !== null ? frame.payload : {};
  switch (frame?.event) {
    case 'presence_state':
      state.online.clear();
      for (const entry of Array.isArray(frame.payload) ? frame.payload : []) setPresence(entry);
      renderOnline();
      break;
    case 'presence_diff':
      for (const entry of [...(payload.joins ?? []), ...(payload.leaves ?? [])]) setPresence(entry);
      renderOnline();
      break;
    case 'upload':
      onUploadEvent(payload);
      break;
    case 'share':
      notifyShare(payload);
      reloadFolder();
      break;
    case 'unshare': {
      // Withdrawn by its creator (or left in another tab): it goes from the listing.
      const gone = state.view.files.find((file) => file.id === payload.media_id);
      const by = gone?.shared_by ? ` by ${gone.shared_by}` : '';
      notify(gone ? `"${gone.name}", shared with you${by}, is no longer shared with you.` : payload.message);
      reloadFolder();
      break;
    }
    case 'download':
      notifyDownload(payload);
      if (typeof payload.archive_id === 'string') loadArchives();
      break;
    case 'error':
      notify(payload.message, 'error');
      break;
    default:
      break;
  }
}

/** A presence entry carries the user's connection count now: 0 means offline. */
function setPresence(entry) {
  if (!entry || typeof entry.user_id !== 'string') return;
  if (entry.count > 0) state.online.set(entry.user_id, { username: String(entry.username), count: entry.count });
  else state.online.delete(entry.user_id);
}

/** The users who store the most (by bytes), as the API ranks them. */
async function loadTopUsers() {
  try {
    const { users } = await api('GET', '/api/v1/users/top?sort=disk_usage&order=desc&limit=5');
    const items = (Array.isArray(users) ? users : []).map((user) =>
      el('li', { text: `${user.username}: ${plural(user.media_count, 'file')}, ${formatBytes(user.disk_usage)}` }),
    );
    byId('top-users').replaceChildren(...(items.length ? items : [el('li', { class: 'muted', text: 'No files yet.' })]));
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) report(error);
  }
}

function renderOnline(note) {
  const users = [...state.online.values()].sort((a, b) => a.username.localeCompare(b.username));
  const items = users.map(({ username, count }) => el('li', { text: `${username} (count: ${count})` }));
  if (!items.length) items.push(el('li', { class: 'muted', text: note ?? 'Nobody is online.' }));
  byId('online').replaceChildren(...items);
}

function onUploadEvent(payload) {
  const message = payload.message ?? '';
  notify(message);
  const id = payload.media_id;
  if (typeof id === 'string') {
    if (state.awaitingConfirmation.delete(id)) {
      flash(message);
    } else {
      // Perhaps an upload of this tab whose answer is still on its way (or another tab's).
      state.confirmedEarly.set(id, message);
      if (state.confirmedEarly.size > MAX_REMEMBERED_UPLOADS) {
        state.confirmedEarly.delete(state.confirmedEarly.keys().next().value);
      }
    }
  }
  reloadFolder();
  refreshUsage();
}

/**
 * A share notification naming the file, as a link to its folder (the event names the
 * sharer; the file's name comes from the API, which the sharee may now read).
 */
async function notifyShare(payload) {
  if (!payload.media_id) {
    notify(payload.message);
    return;
  }
  try {
    const file = await api('GET', `/api/v1/files/${encodeURIComponent(payload.media_id)}`);
    // The sharer's own connections hear of the share too: for them it is a confirmation.
    if (file.creator_id === state.session?.user.id) {
      notify(payload.message);
      return;
    }
    const by = file.shared_by ?? 'Someone';
    notify(folderLink(`${by} shared "${file.name}" with you (in ${file.folder}).`, file.folder, 'notification-link'));
  } catch {
    // Withdrawn already, or not a share with this user: the event's own words.
    notify(payload.message);
  }
}

/**
 * A `download` event: a ready archive's notification is its download link (the event's
 * words); a public link's download is a line of text.
 */
function notifyDownload(payload) {
  if (typeof payload.archive_id !== 'string') {
    notify(payload.message);
    return;
  }
  const archive = `/api/v1/archives/${encodeURIComponent(payload.archive_id)}`;
  const anchor = el('a', {
    href: String(payload.link ?? '#'),
    download: '',
    class: 'notification-link',
    text: payload.message || 'Your download is ready. Start it by clicking here.',
  });
  notify(downloadLink(anchor, `${archive}/download-url`));
  // Which folder it is, once known: two ready ZIPs are told apart.
  api('GET', archive)
    .then((ready) => {
      if (typeof ready?.folder === 'string') anchor.textContent = `Your download of ${ready.folder} is ready. Start it by clicking here.`;
    })
    .catch(() => {});
}

/**
 * The user's prepared ZIPs (they outlive the page that asked for them): a ready one is
 * its download link, one being built says so, a failed one says why; each can be removed.
 */
async function loadArchives() {
  let listed;
  try {
    listed = await api('GET', '/api/v1/archives');
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) report(error);
    return;
  }
  const items = Array.isArray(listed?.items) ? listed.items : [];
  const rows = items.map((archive) => {
    const url = `/api/v1/archives/${encodeURIComponent(archive.id)}`;
    let what;
    if (archive.status === 'ready') {
      what = downloadLink(
        el('a', { href: String(archive.link ?? '#'), download: '', text: `ZIP of ${archive.folder}` }),
        `${url}/download-url`,
      );
    } else if (archive.status === 'failed') {
      what = `ZIP of ${archive.folder} failed: ${sentence(archive.reason ?? 'it could not be built')}`;
    } else {
      what = `ZIP of ${archive.folder}: being prepared…`;
    }
    const facts = archive.status === 'ready' ? ` (${plural(archive.files ?? 0, 'file')}, ${formatBytes(archive.size ?? 0)}; until ${formatWhen(archive.expires_at)})` : '';
    const remove = el('button', {
      type: 'button',
      class: 'link-button',
      text: 'remove',
      'aria-label': `Remove the ZIP of ${archive.folder}`,
      onclick: async () => {
        try {
          await api('DELETE', url);
        } catch (error) {
          report(error);
        }
        loadArchives();
      },
    });
    return el('li', { 'data-key': archive.id }, what, facts, ' ', remove);
  });
  byId('archives').replaceChildren(...rows);
  byId('archives-panel').hidden = rows.length === 0;
}

function notify(message, kind = 'info') {
  if (!message) return;
  const now = new Date();
  const item = el(
    'li',
    { class: kind === 'error' ? 'error' : undefined },
    el('time', { datetime: now.toISOString(), text: now.toLocaleTimeString() }),
    message instanceof Node ? message : String(message),
  );
  const list = byId('notifications');
  list.prepend(item);
  while (list.children.length > MAX_NOTIFICATIONS) list.lastElementChild?.remove();
  // On a phone the list is below the files: the header counts what came since it was seen.
  state.unseen += 1;
  showUnseen();
}

function showUnseen() {
  const badge = byId('unseen');
  badge.textContent = String(state.unseen);
  badge.hidden = state.unseen === 0;
  byId('to-notifications').setAttribute('aria-label', state.unseen ? `Notifications, ${plural(state.unseen, 'new one')}` : 'Notifications');
}

/** Goes to the notifications (below the files on a phone); they count as seen. */
function toNotifications() {
  state.unseen = 0;
  showUnseen();
  const title = byId('notifications-title');
  title.scrollIntoView({ block: 'start' });
  title.focus();
}

// ---------------------------------------------------------------------------------------
// Start

/**
 * Tab and Shift+Tab go round inside `dialog` while it is open (a modal dialog keeps the
 * page inert, but the browser would Tab out of it to its own address bar).
 */
function keepFocusIn(dialog) {
  dialog.addEventListener('keydown', (event) => {
    if (event.key !== 'Tab') return;
    const stops = [...dialog.querySelectorAll(FOCUSABLE)].filter((stop) => stop.getClientRects().length > 0);
    if (stops.length === 0) return;
    const [first, last] = [stops[0], stops[stops.length - 1]];
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  });
}

function wire() {
  keepFocusIn(byId('dialog'));
  byId('trash-more').addEventListener('click', () => {
    if (state.trashCursor) loadTrash(state.trashCursor);
  });
  byId('login-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    submitting(form, () => login(form));
  });
  byId('signup-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    submitting(form, () => signUp(form));
  });
  byId('logout').addEventListener('click', async () => {
    // Logging out ends the uploads under way: ask first.
    if (uploadsBusy()) {
      const sure = await openDialog({
        title: 'Log out now?',
        text: 'Uploads are still under way: logging out cancels them.',
        submit: 'Log out',
        danger: true,
        run: async () => {},
      });
      if (!sure) return;
    }
    logout();
  });
  byId('select-all').addEventListener('change', (event) => selectAllShown(event.target.checked));
  byId('new-folder').addEventListener('click', newFolder);
  byId('new-drop').addEventListener('click', newDrop);
  byId('download-folder').addEventListener('click', downloadFolder);
  for (const button of document.querySelectorAll('#listing-head button[data-sort]')) {
    button.addEventListener('click', () => sortBy(button.dataset.sort));
  }
  byId('sort-select').addEventListener('change', (event) => {
    const [key, way] = event.target.value.split(' ');
    state.view.sort = { key, dir: way === 'desc' ? -1 : 1 };
    loadFolder(state.path);
  });
  byId('filter').addEventListener('input', (event) => {
    state.view.filter = event.target.value;
    renderEntries();
  });
  byId('move-selected').addEventListener('click', moveSelected);
  byId('delete-selected').addEventListener('click', deleteSelected);
  byId('clear-selection').addEventListener('click', () => {
    state.view.selected.clear();
    renderEntries();
  });
  byId('refresh-top').addEventListener('click', loadTopUsers);
  byId('search-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const query = byId('search-query').value;
    const kind = byId('search-kind').value;
    // A name is looked for as typed, less the spaces around it; an expression as it is.
    if (query.trim()) search(kind === 'names' ? query.trim() : query, kind);
  });
  byId('search-close').addEventListener('click', () => {
    byId('search-results').hidden = true;
  });
  byId('open-shares').addEventListener('click', () => openPage('shared'));
  byId('close-shares').addEventListener('click', closePage);
  byId('open-account').addEventListener('click', () => openPage('account'));
  byId('to-notifications').addEventListener('click', toNotifications);
  byId('skip-link').addEventListener('click', (event) => {
    // Not a navigation (the address keeps the folder): the focus goes to the files, or to
    // the login form before one logs in.
    event.preventDefault();
    const target = state.session ? byId('folder-nav') : byId('login-form').querySelector('input');
    target?.focus();
  });
  byId('close-account-view').addEventListener('click', closePage);
  byId('password-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    submitting(form, () => changePassword(form));
  });
  byId('close-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    submitting(form, () => closeAccount(form));
  });
  byId('open-trash').addEventListener('click', () => openPage('trash'));
  byId('close-trash').addEventListener('click', closePage);
  byId('empty-trash').addEventListener('click', emptyTrash);
  byId('brand').addEventListener('click', (event) => {
    if (!state.session || wantsNewTab(event)) return;
    event.preventDefault();
    navigate(ROOT);
  });
  wireUploads();
  byId('more').addEventListener('click', () => {
    if (state.cursor) loadFolder(state.path, state.cursor);
  });
  window.addEventListener('popstate', () => {
    if (state.session) showPageFromUrl();
  });
  document.addEventListener('visibilitychange', () => {
    // Timers sleep in background tabs: catch up when the tab is shown again.
    if (document.visibilityState === 'visible' && state.session) ensureFresh().catch(sessionLost);
  });
}

async function boot() {
  wire();
  // This tab's own session (a reload), or one another open tab holds (a new tab, a link
  // opened from elsewhere).
  const session = storedSession() ?? (await askOtherTabs());
  if (state.session) return;
  if (!session) {
    showAuth();
    if (new URLSearchParams(window.location.search).has('path')) flash(TEXT.loginRequired, 'error');
    return;
  }
  setSession(session);
  showApp();
}

boot();
