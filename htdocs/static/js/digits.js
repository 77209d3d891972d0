// "Draw a digit" widget: a canvas (or an image file) sent to the digit classifier, either
// synchronously (POST /api/predict-now) or as a background job (POST /api/predict, then polling
// the job's status_url). Vanilla JS, no dependencies; every server text goes through textContent.
(function () {
  'use strict';

  const canvas = document.getElementById('digit-canvas');
  if (!canvas || !canvas.getContext) return;

  const $ = (id) => document.getElementById(id);
  const clearBtn = $('digit-clear');
  const fileInput = $('digit-file');
  const asPixels = $('digit-as-pixels');
  const nowBtn = $('predict-now');
  const jobBtn = $('predict-job');
  const cancelBtn = $('job-cancel');
  const sourceNote = $('digit-source');
  const message = $('digit-message');
  const jobStatus = $('job-status');
  const jobText = $('job-status-text');
  const jobProgress = $('job-progress');
  const output = $('digit-output');
  const result = $('digit-result');
  const bars = $('digit-bars');
  const preview = $('digit-preview');
  const filePreview = $('digit-file-preview');

  const ACCEPTED_TYPES = ['image/png', 'image/jpeg'];
  const POLL_FIRST_MS = 100;      // first poll delay, growing by POLL_GROWTH up to POLL_MAX_MS
  const POLL_GROWTH = 1.5;
  const POLL_MAX_MS = 1000;
  const POLL_LIMIT_MS = 60000;    // give up watching a job after this long
  const POLL_MAX_ERRORS = 3;      // consecutive network / 5xx failures tolerated while polling
  const REQUEST_TIMEOUT_MS = 30000;

  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  let hasInk = false;
  let drawing = null;             // { id, x, y } of the pointer that is drawing
  let run = 0;                    // bumped by every new request: stale answers are ignored
  let currentJob = null;          // { url, run } of the job being watched

  // ---- canvas ---------------------------------------------------------------------------

  // Backing store in device pixels so strokes stay crisp on HiDPI screens; everything below works
  // in backing-store pixels, mapped from CSS pixels through the element's box.
  function setupCanvas() {
    const dpr = Math.max(1, Math.min(4, window.devicePixelRatio || 1));
    const side = Math.round((canvas.clientWidth || 280) * dpr);
    canvas.width = side;
    canvas.height = side;
    clearCanvas();
  }

  function clearCanvas() {
    // An opaque white background: the PNG sent to the server is dark ink on a light background,
    // which its preprocessing inverts; a transparent PNG would lose the ink.
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    hasInk = false;
    if (preview) clearPreview();
  }

  function penWidth() { return canvas.width * 0.075; }

  function toCanvas(ev) {
    // Map CSS pixels of the content box (inside the border) to backing-store pixels.
    const r = canvas.getBoundingClientRect();
    const cw = canvas.clientWidth || r.width, ch = canvas.clientHeight || r.height;
    return {
      x: (ev.clientX - r.left - canvas.clientLeft) * canvas.width / cw,
      y: (ev.clientY - r.top - canvas.clientTop) * canvas.height / ch,
    };
  }

  function strokeTo(p) {
    ctx.strokeStyle = '#000';
    ctx.lineWidth = penWidth();
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(drawing.x, drawing.y);
    ctx.lineTo(p.x, p.y);
    ctx.stroke();
    drawing.x = p.x;
    drawing.y = p.y;
  }

  canvas.addEventListener('pointerdown', (ev) => {
    if (drawing || (ev.pointerType === 'mouse' && ev.button !== 0)) return;
    ev.preventDefault();
    if (canvas.setPointerCapture) {
      try { canvas.setPointerCapture(ev.pointerId); } catch (_) { /* pointer already gone */ }
    }
    if (fileInput && fileInput.value) clearFile();   // drawing again makes the drawing the input
    const p = toCanvas(ev);
    drawing = { id: ev.pointerId, x: p.x, y: p.y };
    strokeTo(p);                                     // a tap leaves a round dot
    hasInk = true;
    updateSource();
  });

  canvas.addEventListener('pointermove', (ev) => {
    if (!drawing || ev.pointerId !== drawing.id) return;
    ev.preventDefault();
    const events = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [];
    (events.length ? events : [ev]).forEach((e) => strokeTo(toCanvas(e)));
  });

  function endStroke(ev) {
    if (!drawing || ev.pointerId !== drawing.id) return;
    drawing = null;
    if (asPixels && asPixels.checked) showPreview(computePixels());
  }
  canvas.addEventListener('pointerup', endStroke);
  canvas.addEventListener('pointercancel', endStroke);
  canvas.addEventListener('lostpointercapture', endStroke);

  // ---- 8x8 pixels -----------------------------------------------------------------------

  // The drawing as 64 numbers 0..16 (8x8, row-major, 16 = full ink); null if no ink.
  // The server's own normalisation (examples/digits/preprocess.cpp, features_from_ink), so the
  // 8x8 path and the PNG path give the same features: crop to the ink (>= 64/255), scale to fill
  // the 8 rows (no wider than 5 cells), put the horizontal centre of ink at 4.0 (inside columns
  // 1..7), area-average into the cells, then scale the total ink to 310 (gain at most 8, cells
  // clamped to 16), as the training data (sklearn's 8x8 digits) look.
  const kInkThreshold = 64, kMaxDigitWidth = 5, kCentreX = 4, kTargetMass = 310, kMaxGain = 8;

  // Which cells (and how much of each) a pixel of the crop covers: pixel i spans
  // [start + i*k, start + (i+1)*k) in cell units.
  function spans(n, start, k) {
    const out = [];
    for (let i = 0; i < n; i++) {
      const a = start + i * k, b = a + k, parts = [];
      for (let c = Math.max(0, Math.floor(a)); c < 8 && c < b; c++) {
        const overlap = Math.min(b, c + 1) - Math.max(a, c);
        if (overlap > 0) parts.push([c, overlap]);
      }
      out.push(parts);
    }
    return out;
  }

  function computePixels() {
    const w = canvas.width, h = canvas.height;
    const data = ctx.getImageData(0, 0, w, h).data;
    const ink = new Uint8ClampedArray(w * h);
    let x0 = w, y0 = h, x1 = -1, y1 = -1;
    for (let y = 0, i = 0; y < h; y++) {
      for (let x = 0; x < w; x++, i += 4) {
        // Black ink on the white canvas: ink = 255 - grey (alpha composited on white).
        const a = data[i + 3] / 255;
        const grey = (data[i] * 0.299 + data[i + 1] * 0.587 + data[i + 2] * 0.114) * a + 255 * (1 - a);
        const v = 255 - grey;
        ink[y * w + x] = v;
        if (v >= kInkThreshold) {
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
          if (y < y0) y0 = y;
          if (y > y1) y1 = y;
        }
      }
    }
    if (x1 < 0) return null;
    const bw = x1 - x0 + 1, bh = y1 - y0 + 1;
    const ky = 8 / bh;
    let kx = ky;
    if (bw * kx > kMaxDigitWidth) kx = kMaxDigitWidth / bw;
    let mass = 0, moment = 0;
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const v = ink[y * w + x];
        mass += v;
        moment += v * (x - x0 + 0.5);
      }
    }
    const left = Math.min(Math.max(kCentreX - (moment / mass) * kx, 1), 7 - bw * kx);
    const cols = spans(bw, left, kx), rows = spans(bh, 0, ky);
    const acc = new Float64Array(64);
    for (let y = 0; y < bh; y++) {
      for (let x = 0; x < bw; x++) {
        const v = ink[(y0 + y) * w + x0 + x];
        if (!v) continue;
        const amount = v * (16 / 255);
        for (const [ry, wy] of rows[y]) {
          for (const [cx, wx] of cols[x]) acc[ry * 8 + cx] += amount * wy * wx;
        }
      }
    }
    const total = (g) => acc.reduce((s, v) => s + Math.min(16, g * v), 0);
    let g = kMaxGain;
    if (total(kMaxGain) > kTargetMass) {
      let lo = 0, hi = kMaxGain;
      for (let it = 0; it < 60; it++) {
        const mid = (lo + hi) / 2;
        if (total(mid) < kTargetMass) lo = mid; else hi = mid;
      }
      g = (lo + hi) / 2;
    }
    return Array.from(acc, (v) => Math.max(0, Math.min(16, Math.round(g * v * 100) / 100)));
  }

  function clearPreview() {
    const p = preview.getContext('2d');
    p.clearRect(0, 0, preview.width, preview.height);
    preview.hidden = true;
  }

  function showPreview(pixels) {
    if (!preview) return;
    if (!pixels) { clearPreview(); return; }
    const p = preview.getContext('2d');
    const cell = preview.width / 8;
    pixels.forEach((v, i) => {
      const g = Math.round(255 * (1 - v / 16));
      p.fillStyle = 'rgb(' + g + ',' + g + ',' + g + ')';
      p.fillRect((i % 8) * cell, Math.floor(i / 8) * cell, cell, cell);
    });
    preview.hidden = false;
  }

  // ---- input choice ---------------------------------------------------------------------

  function chosenFile() {
    return fileInput && fileInput.files && fileInput.files[0] ? fileInput.files[0] : null;
  }

  function clearFile() {
    if (!fileInput) return;
    fileInput.value = '';
    if (filePreview) {
      if (filePreview.src) URL.revokeObjectURL(filePreview.src);
      filePreview.removeAttribute('src');
      filePreview.hidden = true;
    }
    updateSource();
  }

  function updateSource() {
    if (!sourceNote) return;
    const file = chosenFile();
    if (file) sourceNote.textContent = 'Input: the file ' + file.name + ', uploaded as is.';
    else if (asPixels && asPixels.checked) sourceNote.textContent = 'Input: the drawing, as 8x8 pixels (JSON).';
    else sourceNote.textContent = 'Input: the drawing, uploaded as a PNG image.';
    if (asPixels) asPixels.disabled = !!file;
  }

  if (fileInput) {
    fileInput.addEventListener('change', () => {
      const file = chosenFile();
      setMessage('');
      if (file && ACCEPTED_TYPES.indexOf(file.type) < 0) {
        setMessage('Please choose a PNG or JPEG image (got ' + (file.type || 'an unknown type') + ').', true);
        clearFile();
        return;
      }
      if (file && filePreview) {
        if (filePreview.src) URL.revokeObjectURL(filePreview.src);
        filePreview.src = URL.createObjectURL(file);
        filePreview.alt = 'Chosen image: ' + file.name;
        filePreview.hidden = false;
      }
      updateSource();
    });
  }

  if (asPixels) {
    asPixels.addEventListener('change', () => {
      updateSource();
      showPreview(asPixels.checked && hasInk ? computePixels() : null);
    });
  }

  if (clearBtn) {
    clearBtn.addEventListener('click', () => {
      clearCanvas();
      clearFile();
      setMessage('');
    });
  }

  // The request body for the current input, or null (after telling the user) if there is none.
  async function buildBody() {
    const file = chosenFile();
    if (file) {
      const form = new FormData();
      form.append('image', file, file.name);
      return { body: form, what: 'image ' + file.name };
    }
    const pixels = computePixels();
    if (!hasInk || !pixels || pixels.every((v) => v === 0)) {
      setMessage('Draw a digit first (the canvas is empty), or choose an image file.', true);
      return null;
    }
    if (asPixels && asPixels.checked) {
      showPreview(pixels);
      return {
        body: JSON.stringify({ pixels }),
        headers: { 'Content-Type': 'application/json' },
        what: '8x8 pixels',
      };
    }
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
    if (!blob) {
      setMessage('Could not turn the drawing into a PNG image.', true);
      return null;
    }
    const form = new FormData();
    form.append('image', blob, 'digit.png');
    return { body: form, what: 'drawing (PNG)' };
  }

  // ---- answers --------------------------------------------------------------------------

  function setMessage(text, isError) {
    if (!message) return;
    message.textContent = text;
    message.classList.toggle('error', !!isError);
    message.hidden = !text;
  }

  // The text of an error answer: the JSON error shape's message when there is one.
  async function errorText(res) {
    let detail = '';
    try {
      const data = await res.clone().json();
      if (data && data.error) {
        detail = typeof data.error === 'string' ? data.error : (data.error.message || '');
      }
    } catch (_) { /* not JSON: an HTML error page, a proxy's answer... */ }
    let text = 'Error ' + res.status + (detail ? ': ' + detail : (res.statusText ? ' ' + res.statusText : ''));
    const retry = res.headers.get('Retry-After');
    if (res.status === 503 && retry) text += ' (try again in ' + retry + (/^\d+$/.test(retry) ? ' s' : '') + ')';
    return text;
  }

  function buildBars() {
    if (!bars || bars.children.length) return;
    for (let d = 0; d < 10; d++) {
      const li = document.createElement('li');
      li.className = 'digit-bar';
      li.id = 'digit-bar-' + d;
      const label = document.createElement('span');
      label.className = 'digit-bar-label';
      label.textContent = String(d);
      label.id = 'digit-bar-label-' + d;
      const track = document.createElement('span');
      track.className = 'digit-bar-track';
      track.setAttribute('role', 'meter');
      track.setAttribute('aria-valuemin', '0');
      track.setAttribute('aria-valuemax', '100');
      track.setAttribute('aria-valuenow', '0');
      track.setAttribute('aria-labelledby', label.id);
      const fill = document.createElement('span');
      fill.className = 'digit-bar-fill';
      track.appendChild(fill);
      const value = document.createElement('span');
      value.className = 'digit-bar-value';
      value.textContent = '0.0%';
      li.append(label, track, value);
      bars.appendChild(li);
    }
  }

  function showPrediction(data) {
    const digit = data && data.digit;
    const probs = data && data.probabilities;
    if (!Number.isInteger(digit) || digit < 0 || digit > 9 || !Array.isArray(probs) || probs.length !== 10) {
      setMessage('The server answered with an unexpected result.', true);
      return;
    }
    buildBars();
    result.textContent = String(digit);
    result.setAttribute('aria-label', 'Predicted digit: ' + digit);
    probs.forEach((p, d) => {
      const v = Number.isFinite(+p) ? Math.max(0, Math.min(1, +p)) : 0;
      const pct = (v * 100).toFixed(1);
      const li = bars.children[d];
      li.classList.toggle('top', d === digit);
      li.querySelector('.digit-bar-fill').style.width = pct + '%';
      const track = li.querySelector('.digit-bar-track');
      track.setAttribute('aria-valuenow', pct);
      track.setAttribute('aria-valuetext', pct + '%');
      li.querySelector('.digit-bar-value').textContent = pct + '%';
    });
    output.hidden = false;
  }

  function setBusy(busy) {
    nowBtn.disabled = busy;
    jobBtn.disabled = busy;
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  // fetch() that gives up after REQUEST_TIMEOUT_MS, so a stuck request cannot leave the buttons
  // disabled for good.
  async function fetchTimed(url, init) {
    const ctl = window.AbortController ? new AbortController() : null;
    const timer = ctl && setTimeout(() => ctl.abort(), REQUEST_TIMEOUT_MS);
    try {
      return await fetch(url, Object.assign({}, init, ctl ? { signal: ctl.signal } : {}));
    } catch (err) {
      if (err && err.name === 'AbortError') throw new Error('no answer after ' + REQUEST_TIMEOUT_MS / 1000 + ' s');
      throw err;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  // ---- synchronous prediction -----------------------------------------------------------

  nowBtn.addEventListener('click', async () => {
    const me = ++run;
    abandonJob();
    setMessage('');
    const req = await buildBody();
    if (!req || me !== run) return;
    setBusy(true);
    setMessage('Predicting from the ' + req.what + '...');
    try {
      const res = await fetchTimed('/api/predict-now', {
        method: 'POST',
        headers: Object.assign({ Accept: 'application/json' }, req.headers || {}),
        body: req.body,
      });
      if (me !== run) return;
      if (!res.ok) { setMessage(await errorText(res), true); return; }
      setMessage('');
      showPrediction(await res.json());
    } catch (err) {
      if (me === run) setMessage('Request failed: ' + err.message, true);
    } finally {
      if (me === run) setBusy(false);
    }
  });

  // ---- background job -------------------------------------------------------------------

  function sameOrigin(url) {
    try {
      const u = new URL(url, window.location.href);
      return u.origin === window.location.origin ? u.pathname + u.search : null;
    } catch (_) {
      return null;
    }
  }

  function stopWatching() {
    currentJob = null;
    if (cancelBtn) cancelBtn.hidden = true;
  }

  // A new request replaces the job being watched: say so rather than leave a stale status.
  function abandonJob() {
    if (!currentJob) { jobStatus.hidden = true; return; }   // an old job's status is stale
    stopWatching();
    jobStatus.dataset.status = 'abandoned';
    jobText.textContent += ' (no longer followed here)';
  }

  function showJob(job) {
    jobStatus.hidden = false;
    jobStatus.dataset.status = job.status || '';
    let text = 'Job ' + String(job.id || '').slice(0, 8) + ': ' + (job.status || 'unknown');
    if (job.attempts && job.max_attempts) text += ' (attempt ' + job.attempts + ' of ' + job.max_attempts + ')';
    const prog = job.progress || {};
    const frac = Number.isFinite(+prog.fraction) && prog.fraction !== null ? Math.max(0, Math.min(1, +prog.fraction)) : null;
    if (job.status === 'running' && frac !== null) text += ', ' + Math.round(frac * 100) + '%';
    if ((job.status === 'running' || job.status === 'queued') && prog.message && prog.message !== job.status) {
      text += ': ' + prog.message;
    }
    jobText.textContent = text;
    jobProgress.hidden = job.status === 'failed' || job.status === 'cancelled';
    if (job.status === 'done') jobProgress.value = 1;
    else if (frac !== null) jobProgress.value = frac;
    else jobProgress.removeAttribute('value');      // indeterminate
  }


  async function watch(url, me) {
    const started = Date.now();
    let delay = POLL_FIRST_MS, errors = 0;
    while (currentJob && currentJob.run === me) {
      await sleep(delay);
      if (!currentJob || currentJob.run !== me) return;
      delay = Math.min(POLL_MAX_MS, delay * POLL_GROWTH);
      let res, job;
      try {
        res = await fetchTimed(url, { headers: { Accept: 'application/json' }, cache: 'no-store' });
        if (!currentJob || currentJob.run !== me) return;
        if (res.status === 404) {
          setMessage('The job is gone: ' + await errorText(res), true);
          break;
        }
        if (!res.ok) throw new Error(await errorText(res));
        job = await res.json();
        errors = 0;
      } catch (err) {
        if (!currentJob || currentJob.run !== me) return;
        if (++errors >= POLL_MAX_ERRORS) {
          setMessage('Stopped checking the job: ' + err.message, true);
          break;
        }
        continue;
      }
      showJob(job);
      if (job.status === 'done') {
        if (job.result) showPrediction(job.result);
        else setMessage('The job finished without a result.', true);
        break;
      }
      if (job.status === 'failed' || job.status === 'cancelled') {
        setMessage('Job ' + job.status + (job.error ? ': ' + job.error : '.'), true);
        break;
      }
      if (Date.now() - started > POLL_LIMIT_MS) {
        setMessage('The job is still ' + job.status + ' after ' + POLL_LIMIT_MS / 1000 +
                   ' s; stopped checking. Its status: ' + url, true);
        break;
      }
    }
    if (currentJob && currentJob.run === me) stopWatching();
  }

  jobBtn.addEventListener('click', async () => {
    const me = ++run;
    abandonJob();
    setMessage('');
    const req = await buildBody();
    if (!req || me !== run) return;
    setBusy(true);
    jobStatus.hidden = false;
    jobStatus.dataset.status = 'submitting';
    jobText.textContent = 'Submitting the ' + req.what + '...';
    jobProgress.hidden = false;
    jobProgress.removeAttribute('value');
    try {
      const res = await fetchTimed('/api/predict', {
        method: 'POST',
        headers: Object.assign({ Accept: 'application/json' }, req.headers || {}),
        body: req.body,
      });
      if (me !== run) return;
      if (res.status !== 202 && !res.ok) {
        const text = await errorText(res);
        jobStatus.dataset.status = 'rejected';
        jobText.textContent = 'Not queued.';
        jobProgress.hidden = true;
        setMessage(text, true);
        return;
      }
      const data = await res.json();
      const url = sameOrigin(data.status_url || res.headers.get('Location') ||
                             (data.id ? '/jobs/' + encodeURIComponent(data.id) : ''));
      if (!url) { setMessage('The server did not say where to follow the job.', true); return; }
      showJob(data);
      currentJob = { url, run: me };
      if (cancelBtn) cancelBtn.hidden = false;
      watch(url, me);
    } catch (err) {
      if (me === run) setMessage('Request failed: ' + err.message, true);
    } finally {
      if (me === run) setBusy(false);
    }
  });

  if (cancelBtn) {
    cancelBtn.addEventListener('click', async () => {
      if (!currentJob) return;
      const url = currentJob.url;
      cancelBtn.disabled = true;
      try {
        const res = await fetchTimed(url, { method: 'DELETE', headers: { Accept: 'application/json' } });
        if (!res.ok) setMessage('Could not cancel: ' + await errorText(res), true);
        // The watcher picks up the 'cancelled' status on its next poll.
      } catch (err) {
        setMessage('Could not cancel: ' + err.message, true);
      } finally {
        cancelBtn.disabled = false;
      }
    });
  }

  setupCanvas();
  updateSource();
})();
