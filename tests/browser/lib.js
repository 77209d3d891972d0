// Helpers shared by the browser tests (run.sh sets NODE_PATH to BUILD/browser/node_modules, where
// playwright-core lives; Chromium is Debian's /usr/bin/chromium, nothing is downloaded).
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { chromium } = require('playwright-core');

// ok/FAIL lines; exit() ends the process with 1 if any check failed.
const failures = [];
function check(ok, what) {
  console.log((ok ? 'ok   ' : 'FAIL ') + what);
  if (!ok) failures.push(what);
  return ok;
}
function exitCode() { return failures.length ? 1 : 0; }
// A check that something happens in time: `promise` (a waitFor...) settles, or a FAIL line.
async function waited(promise, what) {
  try {
    await promise;
    return check(true, what);
  } catch (e) {
    return check(false, what + ': ' + String(e.message || e).split('\n')[0]);
  }
}

function launch() {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
}

// A test's body: failures reported, the browser closed, the exit code set; an exception (a
// timeout of a waitFor...) is a FAIL too.
function run(body) {
  let browser = null;
  (async () => {
    browser = await launch();
    await body(browser);
  })().then(async () => {
    if (browser) await browser.close();
    process.exit(exitCode());
  }, async (e) => {
    console.error('FAIL', e);
    if (browser) await browser.close().catch(() => {});
    process.exit(1);
  });
}

// BUILD_DIR/browser-artifacts (created), for screenshots.
function artifactsDir(buildDir) {
  const dir = path.join(buildDir || '.', 'browser-artifacts');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

// Records what a page did that a visitor would not want: uncaught errors, console errors,
// requests that failed on the network, answers >= 400 from `base`; and every answer, as
// [pathname, status, content-type]. reset() starts a new step. Console errors about a URL whose
// path is in `tolerated` (known defects, reported elsewhere) are printed as notes instead.
function watch(page, base, tolerated = []) {
  const w = { errors: [], console: [], failed: [], bad: [], answers: [], foreign: [], notes: [] };
  page.on('pageerror', (e) => w.errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const at = m.location() && m.location().url;
    const text = m.text() + (at ? ' (' + at + ')' : '');
    let where = '';
    try { where = new URL(at).pathname; } catch (_) { /* no URL */ }
    (tolerated.includes(where) ? w.notes : w.console).push(text);
  });
  page.on('requestfailed', (r) => w.failed.push(r.method() + ' ' + r.url() + ': ' + ((r.failure() || {}).errorText || '?')));
  page.on('request', (r) => {
    if (!r.url().startsWith(base) && !r.url().startsWith('data:') && !r.url().startsWith('blob:')) w.foreign.push(r.url());
  });
  page.on('response', (r) => {
    if (!r.url().startsWith(base)) return;
    const u = new URL(r.url());
    w.answers.push([u.pathname, r.status(), r.headers()['content-type'] || '']);
    if (r.status() >= 400) w.bad.push(r.request().method() + ' ' + u.pathname + u.search + ' ' + r.status());
  });
  w.reset = () => { for (const k of ['errors', 'console', 'failed', 'bad', 'answers', 'foreign', 'notes']) w[k].length = 0; };
  // ok lines for a clean step.
  w.checkClean = (step) => {
    for (const n of w.notes) console.log('note ' + step + ': tolerated console error ' + JSON.stringify(n));
    check(w.errors.length === 0, step + ': no page errors ' + JSON.stringify(w.errors));
    check(w.console.length === 0, step + ': no console errors ' + JSON.stringify(w.console));
    check(w.failed.length === 0 && w.bad.length === 0,
          step + ': no failed requests ' + JSON.stringify(w.failed.concat(w.bad)));
    check(w.foreign.length === 0, step + ': nothing fetched from elsewhere ' + JSON.stringify(w.foreign));
  };
  return w;
}

// Draws strokes on the demo's #digit-canvas with the mouse (after Clear). A stroke is a list of
// points in fractions of the canvas box.
async function draw(page, strokes) {
  await page.click('#digit-clear');
  const box = await page.locator('#digit-canvas').boundingBox();
  for (const stroke of strokes) {
    const [first, ...rest] = stroke;
    await page.mouse.move(box.x + first[0] * box.width, box.y + first[1] * box.height);
    await page.mouse.down();
    for (const [x, y] of rest) await page.mouse.move(box.x + x * box.width, box.y + y * box.height, { steps: 12 });
    await page.mouse.up();
  }
}

// Strokes the classifier recognises (digits.test.js checks each way of sending them).
const ONE = [[[0.5, 0.15], [0.5, 0.85]]];
const SEVEN = [[[0.25, 0.15], [0.75, 0.15], [0.4, 0.85]], [[0.35, 0.5], [0.65, 0.5]]];

// The digit #digit-result shows, once it shows one.
async function shownDigit(page, timeout = 30000) {
  await page.waitForFunction(() => /^[0-9]$/.test((document.getElementById('digit-result').textContent || '').trim()),
                             null, { timeout });
  return (await page.textContent('#digit-result')).trim();
}

// A real PNG (8-bit RGB, no interlace): width x height, pixel(x, y) -> [r, g, b].
function png(width, height, pixel) {
  const crcTable = [];
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    crcTable.push(c >>> 0);
  }
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;   // bit depth
  ihdr[9] = 2;   // RGB
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0, o = 0; y < height; y++) {
    raw[o++] = 0;  // filter: none
    for (let x = 0; x < width; x++) {
      const [r, g, b] = pixel(x, y);
      raw[o++] = r; raw[o++] = g; raw[o++] = b;
    }
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
                        chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

module.exports = { check, waited, exitCode, failures, launch, run, artifactsDir, watch, draw, ONE, SEVEN, shownDigit, png };
