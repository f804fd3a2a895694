/**
 * Small HTTP(S) download helpers built on Node's own modules, so provisioning data needs no extra deps.
 */
import * as http from 'http';
import * as https from 'https';

export interface HttpGetOptions {
  maxRedirects?: number;
  /** Give up when the connection is silent this long. */
  idleTimeoutMs?: number;
}

/** GET a URL into memory, following redirects; non-200 answers are errors naming the URL and status. */
export function httpGetBuffer(url: string, opts: HttpGetOptions = {}): Promise<Buffer> {
  const { maxRedirects = 5, idleTimeoutMs = 60_000 } = opts;
  return new Promise((resolve, reject) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      reject(new Error(`download: invalid URL ${JSON.stringify(url)}`));
      return;
    }
    const client = parsed.protocol === 'https:' ? https : parsed.protocol === 'http:' ? http : null;
    if (!client) {
      reject(new Error(`download: unsupported protocol in ${url} (only http and https)`));
      return;
    }
    const req = client.get(parsed, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (maxRedirects <= 0) {
          reject(new Error(`GET ${url}: too many redirects`));
          return;
        }
        const next = new URL(res.headers.location, parsed).toString();
        httpGetBuffer(next, { maxRedirects: maxRedirects - 1, idleTimeoutMs }).then(resolve, reject);
        return;
      }
      if (status !== 200) {
        res.resume();
        reject(new Error(`GET ${url}: HTTP ${status} ${res.statusMessage ?? ''}`.trimEnd()));
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => reject(new Error(`GET ${url}: ${e.message}`)));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        const declared = Number(res.headers['content-length']);
        // A dropped connection can end the stream "normally"; the length header catches that.
        if (Number.isFinite(declared) && body.length !== declared) {
          reject(new Error(`GET ${url}: connection closed after ${body.length} of ${declared} bytes`));
        } else {
          resolve(body);
        }
      });
    });
    req.setTimeout(idleTimeoutMs, () => req.destroy(new Error(`no data for ${idleTimeoutMs} ms`)));
    req.on('error', (e) => reject(new Error(`GET ${url}: ${e.message}`)));
  });
}
