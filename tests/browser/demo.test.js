// The demo walked through as a new user would, in a real browser (Chromium driven by
// playwright-core): the start page renders with its CSS and scripts; a digit drawn with the mouse
// is predicted ("Predict now"); a PNG goes through the page's upload form and its thumbnail shows;
// a background prediction runs until done; /docs lists the routes in Swagger UI and an operation
// opens and runs. Every step must be free of page errors, console errors and failed requests.
// Screenshots in BUILD_DIR/browser-artifacts: demo-1-index.png ... demo-5-docs.png.
//   node demo.test.js BASE_URL BUILD_DIR
const path = require('path');
const { check, waited, run, artifactsDir, watch, draw, ONE, SEVEN, shownDigit, png } = require('./lib');

const base = process.argv[2];
const artifacts = artifactsDir(process.argv[3]);
const T = 30000;  // generous: the CI machine has two cores and runs other tests' Apache too

async function shoot(page, name, fullPage = true) {
  const file = path.join(artifacts, name);
  await page.screenshot({ path: file, fullPage });
  console.log('screenshot: ' + file);
}

run(async (browser) => {
  const page = await browser.newPage({ viewport: { width: 1000, height: 1300 } });
  page.setDefaultTimeout(T);
  // Every request the page makes must succeed (the favicon included: header.mustache links it).
  const w = watch(page, base);

  // 1. The start page.
  const res = await page.goto(base + '/', { waitUntil: 'load' });
  check(res && res.status() === 200 && (res.headers()['content-type'] || '').startsWith('text/html'),
        '1 GET / answers 200 text/html');
  check((await page.title()) === 'mod_flaskpp demo', '1 the title is the APP_NAME: ' + JSON.stringify(await page.title()));
  check(((await page.textContent('h1')) || '').trim() === 'mod_flaskpp demo', '1 the heading is the APP_NAME');
  check(await page.locator('h2', { hasText: 'Upload an image' }).isVisible() &&
        await page.locator('#digits-title').isVisible(), '1 the upload and digit sections are shown');
  const seen = (p) => w.answers.find((a) => a[0] === p);
  for (const [p, type] of [['/static/css/app.css', 'text/css'], ['/static/js/app.js', 'text/javascript'],
                           ['/static/js/digits.js', 'text/javascript']]) {
    const a = seen(p);
    check(a && a[1] === 200 && a[2].startsWith(type), '1 ' + p + ' loaded as ' + type + ': ' + JSON.stringify(a));
  }
  // The stylesheet was parsed and applies to the document.
  check(await page.evaluate(() => [...document.styleSheets].some((s) => s.href && s.href.endsWith('/static/css/app.css') &&
                                                                         s.cssRules.length > 0)),
        '1 app.css is applied');
  // digits.js ran: it sized the canvas and wrote the input note.
  await waited(page.waitForFunction(() => /drawing/.test(document.getElementById('digit-source').textContent || '')),
               '1 digits.js ran (it wrote the input note)');
  await shoot(page, 'demo-1-index.png');
  // "Try it": the echo button posts JSON and shows the answer.
  const [echo] = await Promise.all([page.waitForResponse((r) => new URL(r.url()).pathname === '/api/echo'),
                                    page.click('#echo-button')]);
  await page.waitForFunction(() => /^\d{3} /.test(document.getElementById('echo-result').textContent || ''));
  const echoed = (await page.textContent('#echo-result')) || '';
  check(echo.status() === 200 && /^200 /.test(echoed) && /"username": "xyz"/.test(echoed),
        '1 "POST JSON to /api/echo" shows the echoed JSON: ' + JSON.stringify(echoed.slice(0, 40)));
  w.checkClean('1');

  // 2. Draw a 7 with the mouse, "Predict now".
  w.reset();
  await draw(page, SEVEN);
  const [now] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/api/predict-now')),
                                   page.click('#predict-now')]);
  check(now.status() === 200, '2 POST /api/predict-now answers 200');
  check(await shownDigit(page, T) === '7', '2 the drawn 7 is predicted 7');
  check(await page.locator('#digit-bars [role=meter]').count() === 10, '2 ten probability bars');
  check(await page.locator('#digit-bar-7.top').count() === 1, '2 the bar of 7 is the top one');
  await shoot(page, 'demo-2-predicted.png');
  w.checkClean('2');

  // 3. Upload a PNG through the page's form (POST /upload, rendered with index.html again).
  w.reset();
  const W = 48, H = 32;
  const image = png(W, H, (x, y) => (Math.abs(x - y * 1.5) < 3 || y === 2 ? [20, 20, 120] : [250, 240, 200]));
  await page.setInputFiles('form[action="/upload"] input[name=image_upload]',
                           { name: 'demo thumb.png', mimeType: 'image/png', buffer: image });
  const [posted] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/upload' && r.request().method() === 'POST'),
    page.click('form[action="/upload"] button[type=submit]'),
  ]);
  await page.waitForURL((u) => u.pathname === '/upload', { waitUntil: 'load' });
  check(posted && posted.status() === 200 && new URL(page.url()).pathname === '/upload',
        '3 the form posts to /upload, which answers 200 (' + (posted && posted.status()) + ')');
  const thumb = page.locator('img.img-thumbnail');
  check(await thumb.count() === 1, '3 one thumbnail is shown');
  await thumb.first().waitFor({ state: 'visible' });
  await page.waitForFunction(() => { const i = document.querySelector('img.img-thumbnail'); return i && i.complete; });
  const info = await thumb.first().evaluate((i) => ({ src: i.getAttribute('src'), url: i.currentSrc,
                                                      w: i.naturalWidth, h: i.naturalHeight }));
  check(/^\/static\/img\/demo_thumb_\d+_[0-9a-f]+\.png$/.test(info.src || ''),
        '3 the thumbnail is under /static/img/ with a secure name: ' + JSON.stringify(info.src));
  check(info.w === W && info.h === H, '3 the thumbnail loaded (' + info.w + 'x' + info.h + ')');
  const caption = ((await page.textContent('figure figcaption')) || '').trim();
  check(caption === 'demo thumb.png (' + image.length + ' bytes)', '3 the caption names the chosen file and its size: ' + JSON.stringify(caption));
  const img = await page.request.get(info.url);
  const body = await img.body();
  check(img.status() === 200 && (img.headers()['content-type'] || '') === 'image/png' && body.equals(image),
        '3 ' + info.src + ' answers 200 image/png with the bytes sent (' + img.status() + ', ' +
        img.headers()['content-type'] + ', ' + body.length + ' bytes)');
  check(img.headers()['x-content-type-options'] === 'nosniff', '3 uploads are served with nosniff');
  await shoot(page, 'demo-3-uploaded.png');
  w.checkClean('3');

  // 4. On the page the upload answered with, a 1 predicted in the background.
  w.reset();
  await draw(page, ONE);
  const [queued] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/api/predict')),
                                      page.click('#predict-job')]);
  check(queued.status() === 202, '4 POST /api/predict answers 202');
  await waited(page.waitForFunction(() => ['done', 'failed', 'cancelled', 'rejected', 'abandoned'].includes(
    document.getElementById('job-status').dataset.status), null, { timeout: 60000 }), '4 the job comes to an end');
  const status = await page.getAttribute('#job-status', 'data-status');
  check(status === 'done', '4 the job ends done: ' + JSON.stringify(status));
  check(/: done\b/.test(await page.textContent('#job-status-text')), '4 the job status shows done: ' +
        JSON.stringify(await page.textContent('#job-status-text')));
  check(await shownDigit(page, T) === '1', '4 the drawn 1 is predicted 1');
  check(await page.locator('#job-progress').evaluate((p) => p.value === 1), '4 the progress bar is full');
  const polls = w.answers.filter((a) => a[0].startsWith('/jobs/'));
  check(polls.length >= 1 && polls.every((a) => a[1] === 200), '4 its status was polled at /jobs/<id> (' + polls.length + ' polls)');
  await shoot(page, 'demo-4-job-done.png');
  w.checkClean('4');

  // 5. The API docs.
  w.reset();
  const docs = await page.goto(base + '/docs', { waitUntil: 'load' });
  check(docs && docs.status() === 200, '5 GET /docs answers 200');
  await page.waitForSelector('.opblock', { timeout: 60000 });
  const listed = await page.$$eval('.opblock .opblock-summary-path', (els) =>
    els.map((e) => e.getAttribute('data-path') || e.textContent.replace(/\u200b/g, '').trim()));
  for (const p of ['/', '/upload', '/api/predict-now', '/api/predict', '/jobs/{id}', '/api/users', '/health']) {
    check(listed.includes(p), '5 Swagger UI lists ' + p);
  }
  // Open GET /health, "Try it out", "Execute": the server's answer shows in the page.
  const op = page.locator('.opblock-get', { has: page.locator('[data-path="/health"]') }).first();
  await op.locator('.opblock-summary').first().click();
  await op.locator('.opblock-body').first().waitFor();
  check(await op.locator('.opblock-body').first().isVisible(), '5 GET /health opens');
  await op.locator('button.try-out__btn').click();
  const [health] = await Promise.all([page.waitForResponse((r) => new URL(r.url()).pathname === '/health'),
                                      op.locator('button.execute').click()]);
  check(health.status() === 200, '5 "Execute" sends GET /health, answered 200');
  await op.locator('.live-responses-table tbody .response-col_status').first().waitFor();
  const shownStatus = ((await op.locator('.live-responses-table tbody .response-col_status').first().textContent()) || '').trim();
  check(shownStatus.startsWith('200'), '5 the page shows the live answer 200: ' + JSON.stringify(shownStatus));
  // The first screen (the full page is 6000 pixels tall): the title, the first routes and the
  // opened operation with its live answer.
  await page.evaluate(() => window.scrollTo(0, 0));
  await shoot(page, 'demo-5-docs.png', false);
  w.checkClean('5');
});
