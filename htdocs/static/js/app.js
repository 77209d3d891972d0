// Posts JSON to the echo route and shows the answer (seed 16.5: JSON in, JSON out).
(function () {
  const button = document.getElementById('echo-button');
  const out = document.getElementById('echo-result');
  if (!button || !out) return;
  button.addEventListener('click', async () => {
    out.textContent = '...';
    try {
      const res = await fetch('/api/echo?from=browser', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
        body: JSON.stringify({ username: 'xyz', clicked: new Date().toISOString() }),
      });
      const data = await res.json();
      out.textContent = res.status + ' ' + JSON.stringify(data.json, null, 2);
    } catch (err) {
      out.textContent = 'request failed: ' + err;
    }
  });
})();
