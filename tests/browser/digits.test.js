// The demo's digit widget in a real browser (Chromium driven by playwright-core): draw a 1 and a
// 7 with the mouse on the canvas, "Predict now" shows the digit and ten bars; "Predict in
// background" shows the job's status until it is done; the 8x8 toggle sends JSON pixels.
//   node digits.test.js BASE_URL
const { chromium } = require('playwright-core');

const base = process.argv[2];
const failures = [];
function check(ok, what) {
  console.log((ok ? 'ok   ' : 'FAIL ') + what);
  if (!ok) failures.push(what);
}

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

async function shownDigit(page) {
  await page.waitForFunction(() => /^[0-9]$/.test((document.getElementById('digit-result').textContent || '').trim()),
                             null, { timeout: 15000 });
  return (await page.textContent('#digit-result')).trim();
}

(async () => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1000, height: 1300 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const answers = [];
  page.on('response', (r) => { if (r.url().includes('/api/predict')) answers.push(r.status()); });
  await page.goto(base + '/');

  const one = [[[0.5, 0.15], [0.5, 0.85]]];
  const seven = [[[0.25, 0.15], [0.75, 0.15], [0.4, 0.85]], [[0.35, 0.5], [0.65, 0.5]]];

  await draw(page, one);
  await page.click('#predict-now');
  check(await shownDigit(page) === '1', 'a drawn 1, sent as PNG, is predicted 1');
  check(await page.locator('#digit-bars [role=meter]').count() === 10, 'ten probability bars');

  await page.evaluate(() => { document.getElementById('digit-result').textContent = ''; });
  await draw(page, seven);
  await page.click('#predict-job');
  await page.waitForFunction(() => document.getElementById('job-status').dataset.status === 'done', null,
                             { timeout: 20000 });
  check(await shownDigit(page) === '7', 'a drawn 7, as a background job, is predicted 7');
  check(/done/.test(await page.textContent('#job-status')), 'the job status shows done');

  await page.evaluate(() => { document.getElementById('digit-result').textContent = ''; });
  await page.check('#digit-as-pixels');
  await draw(page, seven);
  await page.click('#predict-now');
  check(await shownDigit(page) === '7', 'a drawn 7, sent as 8x8 JSON pixels, is predicted 7');

  await page.click('#digit-clear');
  await page.click('#predict-now');
  check(/[Dd]raw/.test(await page.textContent('#digit-message')), 'an empty canvas is not sent');

  check(answers.length === 3 && answers.every((s) => s === 200 || s === 202), 'answers ' + JSON.stringify(answers));
  check(errors.length === 0, 'no page errors ' + JSON.stringify(errors));
  await browser.close();
  process.exit(failures.length ? 1 : 0);
})().catch((e) => { console.error('FAIL', e); process.exit(1); });
