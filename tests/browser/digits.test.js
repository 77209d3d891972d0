// The demo's digit widget in a real browser (Chromium driven by playwright-core): draw a 1 and a
// 7 with the mouse on the canvas, "Predict now" shows the digit and ten bars; "Predict in
// background" shows the job's status until it is done; the 8x8 toggle sends JSON pixels.
//   node digits.test.js BASE_URL
const { check, run, draw, ONE, SEVEN, shownDigit } = require('./lib');

const base = process.argv[2];

run(async (browser) => {
  const page = await browser.newPage({ viewport: { width: 1000, height: 1300 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const answers = [];
  page.on('response', (r) => { if (r.url().includes('/api/predict')) answers.push(r.status()); });
  await page.goto(base + '/');

  await draw(page, ONE);
  await page.click('#predict-now');
  check(await shownDigit(page) === '1', 'a drawn 1, sent as PNG, is predicted 1');
  check(await page.locator('#digit-bars [role=meter]').count() === 10, 'ten probability bars');

  await page.evaluate(() => { document.getElementById('digit-result').textContent = ''; });
  await draw(page, SEVEN);
  await page.click('#predict-job');
  await page.waitForFunction(() => document.getElementById('job-status').dataset.status === 'done', null,
                             { timeout: 20000 });
  check(await shownDigit(page) === '7', 'a drawn 7, as a background job, is predicted 7');
  check(/done/.test(await page.textContent('#job-status')), 'the job status shows done');

  await page.evaluate(() => { document.getElementById('digit-result').textContent = ''; });
  await page.check('#digit-as-pixels');
  await draw(page, SEVEN);
  await page.click('#predict-now');
  check(await shownDigit(page) === '7', 'a drawn 7, sent as 8x8 JSON pixels, is predicted 7');

  await page.click('#digit-clear');
  await page.click('#predict-now');
  check(/[Dd]raw/.test(await page.textContent('#digit-message')), 'an empty canvas is not sent');

  check(answers.length === 3 && answers.every((s) => s === 200 || s === 202), 'answers ' + JSON.stringify(answers));
  check(errors.length === 0, 'no page errors ' + JSON.stringify(errors));
});
