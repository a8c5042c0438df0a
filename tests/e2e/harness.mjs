// The processes under test: a fresh `turnpike serve` on loopback (temporary database, ports
// chosen by the kernel) and the test upstream (a JSON echo server), both started from the
// binaries named by the environment and stopped at the end.
//
//   TURNPIKE_BINARY           build/app/turnpike (required)
//   TURNPIKE_TEST_UPSTREAM    build/tests/support/turnpike-test-upstream (required)
//   TURNPIKE_UI_DIR           optional: serve web-ui/ from this folder (--ui-dir) instead of the
//                             UI embedded in the binary; for iterating on the UI without rebuilds
//   TURNPIKE_E2E_SCREENSHOTS  where screenshots go (default: <build>/e2e-screenshots)

import {execFileSync, spawn} from 'node:child_process';
import {randomBytes} from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const chromiumPath = '/usr/bin/chromium';

// What the test needs and ./scripts/test installs (scripts/lib.sh ensure_e2e_tools). Returns the
// list of problems; empty when everything is there.
export function missingTools() {
  const problems = [];
  const binary = process.env.TURNPIKE_BINARY;
  const upstream = process.env.TURNPIKE_TEST_UPSTREAM;
  if (!binary) problems.push('TURNPIKE_BINARY is not set (path of build/app/turnpike)');
  else if (!fs.existsSync(binary)) problems.push(`TURNPIKE_BINARY ${binary} does not exist`);
  if (!upstream) {
    problems.push('TURNPIKE_TEST_UPSTREAM is not set ' +
        '(path of build/tests/support/turnpike-test-upstream)');
  } else if (!fs.existsSync(upstream)) {
    problems.push(`TURNPIKE_TEST_UPSTREAM ${upstream} does not exist`);
  }
  if (!fs.existsSync(path.join(here, 'node_modules', 'playwright-core', 'package.json'))) {
    problems.push(`${path.join(here, 'node_modules', 'playwright-core')} is missing ` +
        '(run ./scripts/test, which runs npm ci in tests/e2e)');
  }
  if (!fs.existsSync(chromiumPath)) {
    problems.push(`${chromiumPath} is missing (run ./scripts/test, which installs the ` +
        'chromium package)');
  }
  if (!onPath('openssl')) problems.push('openssl is missing (the openssl package)');
  return problems;
}

function onPath(command) {
  return (process.env.PATH || '').split(':').some((dir) =>
    dir && fs.existsSync(path.join(dir, command)));
}

// A self-signed EC P-256 certificate for `host` (its CN and only DNS name) that expires in
// `days` days, made by the openssl command: {cert, key}, both PEM.
export function makeCertificate(host, days) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'turnpike-e2e-cert-'));
  try {
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt',
      'ec_paramgen_curve:P-256', '-nodes', '-days', String(days), '-subj', `/CN=${host}`,
      '-addext', `subjectAltName=DNS:${host}`, '-keyout', key, '-out', cert],
    {stdio: ['ignore', 'ignore', 'pipe']});
    return {cert: fs.readFileSync(cert, 'utf8'), key: fs.readFileSync(key, 'utf8')};
  } finally {
    fs.rmSync(dir, {recursive: true, force: true});
  }
}

// The folder screenshots go to, emptied of old screenshots.
export function screenshotDir() {
  let dir = process.env.TURNPIKE_E2E_SCREENSHOTS;
  if (!dir) {
    // build/app/turnpike -> build/e2e-screenshots; /x/turnpike -> /x/e2e-screenshots
    const binDir = path.dirname(path.resolve(process.env.TURNPIKE_BINARY));
    const buildDir = path.basename(binDir) === 'app' ? path.dirname(binDir) : binDir;
    dir = path.join(buildDir, 'e2e-screenshots');
  }
  fs.mkdirSync(dir, {recursive: true});
  for (const name of fs.readdirSync(dir)) {
    if (name.endsWith('.png')) fs.rmSync(path.join(dir, name), {force: true});
  }
  return dir;
}

const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

// Starts `command args`, and resolves once `pattern` matched a line of its standard output:
// {child, match, output()} (output: everything it printed so far, for failure messages).
function startProcess(command, args, {env, pattern, what, timeoutMs = 15000}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {env, stdio: ['ignore', 'pipe', 'pipe']});
    children.add(child);
    let out = '';
    let pending = '';
    let done = false;
    const output = () => out;
    const finish = (error, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (error) {
        child.kill('SIGKILL');
        reject(new Error(`${what}: ${error}\n--- its output ---\n${out}`));
      } else {
        resolve(value);
      }
    };
    const timer = setTimeout(() => finish(`did not start within ${timeoutMs} ms`), timeoutMs);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (text) => {
      out += text;
      pending += text;
      let newline;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        const match = pattern.exec(line);
        if (match) finish(null, {child, match, output});
      }
    });
    child.stderr.on('data', (text) => {
      out += text;
    });
    child.on('error', (e) => finish(`cannot run ${command}: ${e.message}`));
    child.on('exit', (code, signal) => {
      children.delete(child);
      finish(`exited early (code ${code}, signal ${signal})`);
    });
  });
}

// Stops a child (SIGTERM, SIGKILL after 5 s); resolves when it has exited.
export function stopProcess(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      children.delete(child);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

// The echo server: {child, url} with url "http://127.0.0.1:PORT".
export async function startUpstream() {
  const {child, match} = await startProcess(
      process.env.TURNPIKE_TEST_UPSTREAM, ['--name', 'e2e-upstream'],
      {env: process.env, pattern: /^listening (127\.0\.0\.1:\d+)/, what: 'turnpike-test-upstream'});
  return {child, url: `http://${match[1]}`};
}

// `turnpike serve` on a fresh database in a temporary folder, with a random admin token:
// {child, adminUrl, proxyUrl, token, dir, output()}. adminUrl and proxyUrl end without "/".
export async function startTurnpike() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'turnpike-e2e-'));
  const token = `e2e-${randomBytes(16).toString('hex')}`;
  const args = ['serve', '--db', path.join(dir, 'turnpike.db'),
    '--proxy-listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--access-log', 'off',
    '--workers', '2', '--log-level', 'warn'];
  if (process.env.TURNPIKE_UI_DIR) args.push('--ui-dir', process.env.TURNPIKE_UI_DIR);
  const env = {...process.env, TURNPIKE_ADMIN_TOKEN: token};
  // The banner prints "  admin API: http://127.0.0.1:P/" before "  proxy:     http://...:P/ (...)".
  let started;
  try {
    started = await startProcess(process.env.TURNPIKE_BINARY, args,
        {env, pattern: /^\s*proxy:\s+http:\/\//, what: 'turnpike serve'});
  } catch (e) {
    fs.rmSync(dir, {recursive: true, force: true});
    throw e;
  }
  const {child, output} = started;
  const admin = /^\s*admin API:\s+(http:\/\/\S+?)\/?$/m.exec(output());
  const proxy = /^\s*proxy:\s+(http:\/\/\S+?)\/?(\s|$)/m.exec(output());
  if (!admin || !proxy) {
    await stopProcess(child);
    fs.rmSync(dir, {recursive: true, force: true});
    throw new Error(`cannot find the admin and proxy URLs in the output of turnpike serve:\n` +
        output());
  }
  return {child, adminUrl: admin[1], proxyUrl: proxy[1], token, dir, output};
}

// Polls `probe` (async; returns a truthy value when done) every `intervalMs` until it does or
// `timeoutMs` passes; then throws `what` with the last value or error seen.
export async function eventually(what, probe, {timeoutMs = 10000, intervalMs = 100} = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
      last = value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`${what} (waited ${timeoutMs} ms; last: ${detail})`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
