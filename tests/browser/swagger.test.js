// FlaskppSwaggerUI in a real browser (Chromium driven by playwright-core): /docs/ redirects to
// /docs, which loads Swagger UI from /docs/assets/ (no CDN), fetches /openapi.json and lists the
// demo's routes; an operation opens with its typed path parameter. Screenshots are kept in
// BUILD_DIR/browser-artifacts: swagger-ui-top.png (the first screen), swagger-ui.png (full page).
//   node swagger.test.js BASE_URL BUILD_DIR
const path = require('path');
const { check, run, artifactsDir } = require('./lib');

const base = process.argv[2];
const artifacts = artifactsDir(process.argv[3]);

run(async (browser) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const loaded = [];  // [url, status, content-type] of every answer the page received
  page.on('response', (r) => loaded.push([new URL(r.url()).pathname, r.status(), r.headers()['content-type'] || '']));
  const foreign = [];
  page.on('request', (r) => { if (!r.url().startsWith(base) && !r.url().startsWith('data:')) foreign.push(r.url()); });

  const first = await page.goto(base + '/docs/');
  check(new URL(page.url()).pathname === '/docs', '/docs/ ends at /docs (' + page.url() + ')');
  check(first && first.status() === 200, '/docs answers 200');
  await page.waitForSelector('.opblock', { timeout: 30000 });

  await page.screenshot({ path: path.join(artifacts, 'swagger-ui-top.png') });  // as a visitor first sees it
  const title = (await page.textContent('.info .title')) || '';
  check(title.includes('mod_flaskpp demo'), 'the title is the FlaskppOpenAPI TITLE: ' + JSON.stringify(title));
  const listed = await page.$$eval('.opblock .opblock-summary-path', (els) =>
    els.map((e) => e.getAttribute('data-path') || e.textContent.replace(/\u200b/g, '').trim()));
  const methods = await page.$$eval('.opblock .opblock-summary-method', (els) => els.map((e) => e.textContent.trim()));
  console.log('listed: ' + listed.length + ' operations');
  for (const p of ['/', '/hello/{name}', '/api/echo', '/api/items/{id}', '/health', '/api/predict', '/jobs/{id}',
                   '/t/users/{id}', '/t/uuid/{u}']) {
    check(listed.includes(p), 'lists ' + p);
  }
  check(!listed.some((p) => p === '/openapi.json' || p.startsWith('/docs')), 'the pages themselves are not listed');
  check(methods.includes('DELETE') && methods.includes('POST') && methods.includes('GET'), 'methods shown');

  // Open GET /t/users/{id}: its parameter is an integer in the path.
  const op = page.locator('.opblock-get', { has: page.locator('[data-path="/t/users/{id}"]') }).first();
  await op.locator('.opblock-summary').first().click();
  await op.locator('.parameters').first().waitFor({ timeout: 10000 });
  const name = op.locator('.parameter__name').first();
  const paramName = ((await name.textContent()) || '').trim();
  const paramClass = (await name.getAttribute('class')) || '';
  const paramIn = ((await op.locator('.parameter__in').first().textContent()) || '').trim();
  const paramType = (await op.locator('.parameter__type').first().textContent()) || '';
  check(/^id\b/.test(paramName) && /\brequired\b/.test(paramClass) && /path/.test(paramIn),
        'the operation shows its required path parameter id: ' + JSON.stringify([paramName, paramClass, paramIn]));
  check(/integer/.test(paramType), 'typed integer: ' + JSON.stringify(paramType.trim()));
  // A rate-limited route documents its 429.
  const echo = page.locator('.opblock-post', { has: page.locator('[data-path="/api/users"]') }).first();
  await echo.locator('.opblock-summary').first().click();
  await echo.locator('.responses-table').first().waitFor({ timeout: 10000 });
  const codes = await echo.locator('.response-col_status').allTextContents();
  check(codes.some((c) => c.trim().startsWith('429')), 'POST /api/users lists 429: ' + JSON.stringify(codes.map((c) => c.trim())));

  const seen = (p) => loaded.find((l) => l[0] === p);
  const doc = seen('/openapi.json');
  check(doc && doc[1] === 200 && doc[2].startsWith('application/json'), 'the document was fetched: ' + JSON.stringify(doc));
  for (const [p, type] of [['/docs/assets/swagger-ui-bundle.js', 'text/javascript'],
                           ['/docs/assets/swagger-ui-standalone-preset.js', 'text/javascript'],
                           ['/docs/assets/swagger-ui.css', 'text/css']]) {
    const l = seen(p);
    check(l && (l[1] === 200 || l[1] === 304) && l[2].startsWith(type), p + ' loaded as ' + type + ': ' + JSON.stringify(l));
  }
  check(foreign.length === 0, 'nothing fetched from elsewhere ' + JSON.stringify(foreign));
  check(errors.length === 0, 'no page errors ' + JSON.stringify(errors));

  const shot = path.join(artifacts, 'swagger-ui.png');
  await page.screenshot({ path: shot, fullPage: true });
  console.log('screenshot: ' + shot);
});
