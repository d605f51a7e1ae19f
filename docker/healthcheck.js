// The serve images' HEALTHCHECK: healthy when the server's /readyz answers 200 (model and index
// loaded). Node's own fetch, since the slim images have neither curl nor wget. The images listen on
// HOST=0.0.0.0, so loopback reaches the server from inside its container.
const port = process.env.PORT || '8080';
fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(4000) })
  .then((res) => process.exit(res.ok ? 0 : 1), () => process.exit(1));
