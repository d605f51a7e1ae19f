import http from 'node:http';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * A request with the path sent exactly as given (fetch would normalise "../" away), for path
 * traversal tests; with `agent`, on its (keep-alive) sockets, as bench:server's load generator sends.
 */
export function rawRequest(baseUrl: string, method: string, rawPath: string, body?: Buffer, headers: Record<string, string> = {}, agent?: http.Agent): Promise<RawResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path: rawPath, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A multipart/form-data body from (field, filename, bytes | string value) triples. */
export function multipartBody(parts: { field: string; filename?: string; data: Buffer | string; type?: string }[]): FormData {
  const form = new FormData();
  for (const p of parts) {
    if (p.filename !== undefined) form.append(p.field, new Blob([p.data], { type: p.type ?? 'application/octet-stream' }), p.filename);
    else form.append(p.field, String(p.data));
  }
  return form;
}
