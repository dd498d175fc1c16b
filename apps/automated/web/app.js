// The automated web page: jobs, recent executions, live logs.
// No framework and no build step. Everything that comes from the server goes
// into the DOM as text (textContent, text nodes, attributes), never as HTML.
'use strict';

const TOKEN_KEY = 'automate.token';
const REFRESH_MS = 2000;
const FINAL_STATES = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT']);

const $ = (selector) => document.querySelector(selector);

// ---------------------------------------------------------------------------
// API

class AuthError extends Error {}

class ApiError extends Error {
  constructor(status, body) {
    const details = (body.details || []).map((d) => `${d.field}: ${d.problem}`);
    super([`${body.code || `HTTP ${status}`}: ${body.message || ''}`, ...details].join('\n'));
    this.status = status;
  }
}

const token = () => localStorage.getItem(TOKEN_KEY) || '';

// Calls the API with the stored token; a 401 signs out and shows the prompt.
async function api(method, path, body) {
  const headers = {'Authorization': `Bearer ${token()}`, 'Automate-Client-Api-Version': '1'};
  const init = {method, headers, cache: 'no-store'};
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new Error(`Cannot reach the server (${err.message}).`);
  }
  if (response.status === 401) {
    signOut('The server refused this token (401). Enter a valid one.');
    throw new AuthError('unauthenticated');
  }
  const text = await response.text();
  let data = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = {message: text};
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// ---------------------------------------------------------------------------
// Formatting

function timeText(rfc3339) {
  return rfc3339 ? new Date(rfc3339).toLocaleString() : '—';
}

function durationText(execution) {
  if (!execution.startTime) return '—';
  const start = Date.parse(execution.startTime);
  const end = execution.endTime ? Date.parse(execution.endTime) : Date.now();
  const seconds = Math.max(0, (end - start) / 1000);
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const s = Math.floor(seconds) % 60, m = Math.floor(seconds / 60) % 60, h = Math.floor(seconds / 3600);
  return h ? `${h}h ${m}m` : `${m}m ${s}s`;
}

function paramsText(params) {
  if (!params || !params.length) return '—';
  return params.map((p) => p.name + (p.required ? '*' : '') + ('default' in p ? `=${p.default}` : '')).join(', ');
}

function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

function setState(element, state) {
  setText(element, state || '—');
  element.dataset.state = state || '';
}

function cell(tr, text = '') {
  const td = tr.insertCell();
  td.textContent = text;
  return td;
}

function stateSpan() {
  const span = document.createElement('span');
  span.className = 'state';
  return span;
}

// Updates tbody's rows in place, keyed by the attribute `attr`, so that rows
// (and the buttons in them) survive a refresh.
function syncRows(tbody, items, keyOf, attr, create, update) {
  const old = new Map([...tbody.rows].map((tr) => [tr.getAttribute(attr), tr]));
  let previous = null;
  for (const item of items) {
    const key = keyOf(item);
    let tr = old.get(key);
    if (tr) {
      old.delete(key);
    } else {
      tr = document.createElement('tr');
      tr.setAttribute(attr, key);
      create(tr, item);
    }
    update(tr, item);
    const wanted = previous ? previous.nextSibling : tbody.firstChild;
    if (tr !== wanted) tbody.insertBefore(tr, wanted);
    previous = tr;
  }
  for (const tr of old.values()) tr.remove();
}

// ---------------------------------------------------------------------------
// Views and their refresh loop

let generation = 0;      // bumped on every view change: stale loops stop
let logSource = null;    // the execution view's EventSource
let jobsByName = new Map();

function stopView() {
  generation++;
  if (logSource) logSource.close();
  logSource = null;
}

// Runs fn now and every REFRESH_MS after it finished, until the view changes
// or fn returns false. Errors go to errorElement.
function every(fn, errorElement) {
  const mine = generation;
  const tick = async () => {
    if (mine !== generation) return;
    let again = true;
    try {
      again = (await fn()) !== false;
      if (mine === generation) errorElement.textContent = '';
    } catch (err) {
      if (err instanceof AuthError) return;
      if (mine === generation) errorElement.textContent = err.message;
    }
    if (again && mine === generation) setTimeout(tick, REFRESH_MS);
  };
  tick();
}

function show(id) {
  for (const view of ['login', 'list-view', 'execution-view']) $(`#${view}`).hidden = view !== id;
  $('#sign-out').hidden = id === 'login';
}

function route() {
  stopView();
  if (!token()) {
    showLogin('');
    return;
  }
  const match = location.hash.match(/^#\/executions\/([^/]+)$/);
  if (match) openExecution(decodeURIComponent(match[1]));
  else openList();
}

// ---------------------------------------------------------------------------
// Sign in

function showLogin(message) {
  stopView();
  if ($('#run-dialog').open) $('#run-dialog').close();
  show('login');
  $('#login-error').textContent = message;
  $('#token-input').value = '';
  $('#token-input').focus();
}

function signOut(message) {
  localStorage.removeItem(TOKEN_KEY);
  showLogin(message);
}

// ---------------------------------------------------------------------------
// Jobs and recent executions

function openList() {
  show('list-view');
  every(refreshList, $('#list-error'));
}

async function refreshList() {
  const mine = generation;
  const [jobs, executions] = await Promise.all([
    api('GET', '/v1/jobs'),
    api('GET', '/v1/executions?limit=50'),
  ]);
  if (mine !== generation) return;
  renderJobs(jobs.jobs || [], executions.executions || []);
  renderExecutions(executions.executions || []);
}

function renderJobs(jobs, executions) {
  jobsByName = new Map(jobs.map((job) => [job.spec.name, job]));
  const lastState = new Map();  // executions are newest first
  for (const e of executions) if (!lastState.has(e.job)) lastState.set(e.job, e.state);
  syncRows($('#jobs tbody'), jobs, (job) => job.spec.name, 'data-job',
    (tr, job) => {
      const name = job.spec.name;
      cell(tr).className = 'name';
      cell(tr).className = 'description';
      cell(tr).className = 'params';
      cell(tr).append(stateSpan());
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'run';
      button.textContent = 'Run';
      button.addEventListener('click', () => openRunDialog(name));
      cell(tr).append(button);
    },
    (tr, job) => {
      setText(tr.cells[0], job.spec.name);
      setText(tr.cells[1], job.spec.description || '');
      setText(tr.cells[2], paramsText(job.spec.params));
      setState(tr.cells[3].firstChild, lastState.get(job.spec.name));
    });
  $('#jobs-empty').hidden = jobs.length > 0;
}

function renderExecutions(executions) {
  syncRows($('#executions tbody'), executions, (e) => e.id, 'data-execution',
    (tr, e) => {
      const link = document.createElement('a');
      link.href = `#/executions/${encodeURIComponent(e.id)}`;
      link.textContent = e.id;
      cell(tr).append(link);
      cell(tr);
      cell(tr).append(stateSpan());
      cell(tr);
      cell(tr);
    },
    (tr, e) => {
      setText(tr.cells[1], e.job);
      setState(tr.cells[2].firstChild, e.state);
      setText(tr.cells[3], timeText(e.startTime));
      setText(tr.cells[4], durationText(e));
    });
}

// ---------------------------------------------------------------------------
// The Run dialog: one input per param, prefilled with its default

let runJob = '';

function openRunDialog(name) {
  const job = jobsByName.get(name);
  if (!job) return;
  runJob = name;
  $('#run-job').textContent = name;
  $('#run-error').textContent = '';
  const box = $('#run-params');
  box.replaceChildren();
  for (const p of job.spec.params || []) {
    const label = document.createElement('label');
    label.htmlFor = `param-${p.name}`;
    label.textContent = p.name + (p.required ? ' (required)' : '');
    const input = document.createElement('input');
    input.id = `param-${p.name}`;
    input.name = p.name;
    input.autocomplete = 'off';
    input.dataset.hasDefault = 'default' in p ? 'true' : '';
    if ('default' in p) input.value = p.default;
    if (p.required && !('default' in p)) input.required = true;
    if (p.pattern) input.placeholder = `matches ${p.pattern}`;
    const help = document.createElement('small');
    help.textContent = p.description || '';
    const row = document.createElement('div');
    row.className = 'param';
    row.append(label, input, help);
    box.append(row);
  }
  if (!box.children.length) {
    const none = document.createElement('p');
    none.className = 'hint';
    none.textContent = 'This job has no parameters.';
    box.append(none);
  }
  $('#run-dialog').showModal();
  const first = box.querySelector('input');
  (first || $('#run-submit')).focus();
}

async function submitRun(event) {
  event.preventDefault();
  // An empty field is sent only when the param has a default (it overrides
  // it); otherwise it is left out.
  const args = {};
  for (const input of $('#run-params').querySelectorAll('input')) {
    if (input.value !== '' || input.dataset.hasDefault) args[input.name] = input.value;
  }
  const submit = $('#run-submit');
  submit.disabled = true;
  try {
    const execution = await api('POST', `/v1/jobs/${encodeURIComponent(runJob)}/executions`, {args});
    $('#run-dialog').close();
    location.hash = `#/executions/${encodeURIComponent(execution.id)}`;
  } catch (err) {
    if (!(err instanceof AuthError)) $('#run-error').textContent = err.message;
  } finally {
    submit.disabled = false;
  }
}

// ---------------------------------------------------------------------------
// One execution and its live log

let shown = null;  // the execution on display

function openExecution(id) {
  show('execution-view');
  shown = null;
  setText($('#exec-id'), id);
  for (const field of ['job', 'started', 'duration', 'args', 'error']) setText($(`#exec-${field}`), '');
  setState($('#exec-state'), '');
  $('#exec-cancel').hidden = true;
  $('#log').replaceChildren();
  every(async () => {
    renderExecution(await api('GET', `/v1/executions/${encodeURIComponent(id)}`));
    return !FINAL_STATES.has(shown.state);
  }, $('#exec-load-error'));
  followLog(id);
}

function renderExecution(execution) {
  // A poll answered late must not turn a final state back into a running one.
  if (shown && shown.id === execution.id && FINAL_STATES.has(shown.state) &&
      !FINAL_STATES.has(execution.state)) return;
  shown = execution;
  setText($('#exec-job'), `${execution.job} (version ${execution.jobVersion || '?'})`);
  setState($('#exec-state'), execution.state);
  setText($('#exec-started'), timeText(execution.startTime));
  setText($('#exec-duration'), durationText(execution));
  const args = Object.entries(execution.args || {}).map(([k, v]) => `${k}=${v}`);
  setText($('#exec-args'), args.join('  ') || '—');
  const error = [execution.error, 'exitCode' in execution ? `exit code ${execution.exitCode}` : '']
    .filter(Boolean).join('; ');
  setText($('#exec-error'), error || '—');
  $('#exec-cancel').hidden = FINAL_STATES.has(execution.state);
}

// EventSource cannot send an Authorization header: the token goes in the
// query string, which the server accepts on this route only.
function followLog(id) {
  const url = `/v1/executions/${encodeURIComponent(id)}/logs?follow=true` +
              `&access_token=${encodeURIComponent(token())}`;
  const source = new EventSource(url);
  logSource = source;
  const decoders = new Map();  // per stream: a chunk may end inside a UTF-8 character
  const status = (text) => setText($('#log-status'), text);

  source.addEventListener('open', () => status('following the log…'));
  source.addEventListener('log', (event) => {
    const record = JSON.parse(event.data);
    const stream = record.stream || 'STDOUT';
    if (!decoders.has(stream)) decoders.set(stream, new TextDecoder());
    appendLog(stream, decoders.get(stream).decode(base64Bytes(record.data || ''), {stream: true}));
  });
  source.addEventListener('end', (event) => {
    source.close();
    if (logSource === source) logSource = null;
    for (const [stream, decoder] of decoders) appendLog(stream, decoder.decode());
    const end = JSON.parse(event.data);
    if (end.execution) renderExecution(end.execution);
    status(`end of log, ${end.size || 0} bytes`);
  });
  source.addEventListener('error', () => {
    if (source.readyState !== EventSource.CLOSED) {
      status('connection lost, reconnecting…');
      return;
    }
    // Refused (401, 404, ...): EventSource does not say why; ask the API,
    // which signs out on 401.
    status('the log stream was closed by the server');
    api('GET', `/v1/executions/${encodeURIComponent(id)}`).catch((err) => {
      if (!(err instanceof AuthError)) status(err.message);
    });
  });
}

function base64Bytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

// Appends text to the log, in a span per run of one stream (class stdout,
// stderr or system); keeps the view at the bottom if it was there.
function appendLog(stream, text) {
  if (!text) return;
  const log = $('#log');
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  const kind = stream.toLowerCase();
  let span = log.lastElementChild;
  if (!span || span.dataset.stream !== kind) {
    span = document.createElement('span');
    span.className = kind;
    span.dataset.stream = kind;
    log.append(span);
  }
  span.append(text);
  if (atBottom) log.scrollTop = log.scrollHeight;
}

async function cancelShown() {
  if (!shown) return;
  try {
    renderExecution(await api('POST', `/v1/executions/${encodeURIComponent(shown.id)}/cancel`));
  } catch (err) {
    if (!(err instanceof AuthError)) setText($('#log-status'), err.message);
  }
}

// ---------------------------------------------------------------------------
// Wiring

$('#login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const value = $('#token-input').value.trim();
  if (!value) return;
  localStorage.setItem(TOKEN_KEY, value);
  route();
});
$('#sign-out').addEventListener('click', (event) => {
  event.preventDefault();
  signOut('Signed out.');
});
$('#run-form').addEventListener('submit', submitRun);
$('#run-cancel').addEventListener('click', () => $('#run-dialog').close());
$('#exec-cancel').addEventListener('click', cancelShown);
window.addEventListener('hashchange', route);
window.addEventListener('storage', (event) => {
  if (event.key === TOKEN_KEY) route();
});
route();
