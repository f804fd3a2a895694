/** Downloads are tested only against a local server on 127.0.0.1; nothing here touches the real network. */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';
import * as path from 'path';
import { gzipSync } from 'zlib';
import { downloadFashionMnist, FASHION_MNIST_SHA256, loadFashionMnist } from '../../src/data/fashionMnist';
import { httpGetBuffer } from '../../src/data/download';
import { ensureFashionMnist, provisionFashionMnist } from '../../src/data/provision';
import { fashionContents, makeTmpDir, removeDir, writeFashionDir } from './fixtures';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('Fashion-MNIST download from a local server', () => {
  const contents = fashionContents(20, 10);
  const digests = Object.fromEntries(Object.entries(contents).map(([k, v]) => [k, sha256(v)]));
  let server: http.Server;
  let baseUrl: string;
  let requests: string[];
  let root: string;
  let savedEnv: string | undefined;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const url = req.url ?? '/';
      requests.push(url);
      if (url.startsWith('/moved/')) {
        res.writeHead(302, { location: '/files/' + url.slice('/moved/'.length) });
        res.end();
        return;
      }
      const name = url.replace(/^\/files\//, '');
      const body = url.startsWith('/files/') ? contents[name] : undefined;
      if (!body) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not here');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(gzipSync(body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/files/`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  beforeEach(() => {
    requests = [];
    root = makeTmpDir();
    savedEnv = process.env.FASHION_MNIST_DIR;
    delete process.env.FASHION_MNIST_DIR;
  });
  afterEach(() => {
    if (savedEnv !== undefined) process.env.FASHION_MNIST_DIR = savedEnv;
    removeDir(root);
  });

  /** Options that keep every search place inside the temp dir. */
  const isolated = () => ({
    localDir: path.join(root, 'local'),
    systemDir: path.join(root, 'system'),
    downloadBaseUrl: baseUrl,
    expectedSha256: digests,
  });

  test('downloads, verifies, saves atomically and loads', async () => {
    const logs: string[] = [];
    const { train, test } = await loadFashionMnist({ ...isolated(), allowDownload: true, log: (s) => logs.push(s) });
    expect([train.n, test.n]).toEqual([20, 10]);
    expect(fs.readdirSync(path.join(root, 'local')).sort()).toEqual(Object.keys(contents).sort());
    expect(requests).toHaveLength(4);
    expect(logs.join('\n')).toContain('SHA-256 verified');
    // Second load finds the files and does not download again.
    await loadFashionMnist({ ...isolated(), allowDownload: true });
    expect(requests).toHaveLength(4);
  });

  test('only missing files are fetched, and redirects are followed', async () => {
    writeFashionDir(path.join(root, 'local'), 20, 10, ['train-images-idx3-ubyte.gz', 't10k-images-idx3-ubyte.gz']);
    const base = baseUrl.replace('/files/', '/moved/');
    await downloadFashionMnist({ ...isolated(), downloadBaseUrl: base });
    expect(requests.sort()).toEqual([
      '/files/t10k-labels-idx1-ubyte.gz', '/files/train-labels-idx1-ubyte.gz',
      '/moved/t10k-labels-idx1-ubyte.gz', '/moved/train-labels-idx1-ubyte.gz',
    ]);
    expect(fs.readdirSync(path.join(root, 'local'))).toHaveLength(4);
  });

  test('a digest mismatch is a clear error and leaves no file behind', async () => {
    const wrong = { ...digests, 'train-images-idx3-ubyte.gz': '0'.repeat(64) };
    const err = await loadFashionMnist({ ...isolated(), expectedSha256: wrong, allowDownload: true })
      .catch((e: Error) => e);
    expect((err as Error).message).toMatch(new RegExp(
      `^train-images-idx3-ubyte\\.gz \\(downloaded from ${baseUrl}train-images-idx3-ubyte\\.gz\\): ` +
      `SHA-256 of the content is ${digests['train-images-idx3-ubyte.gz']}, expected 0{64}; the file was not saved`));
    const local = path.join(root, 'local');
    expect(fs.existsSync(local) ? fs.readdirSync(local) : []).toEqual([]);
  });

  test('a 404 is a clear error naming the URL, and leaves no file behind', async () => {
    const base = baseUrl.replace('/files/', '/missing/');
    await expect(downloadFashionMnist({ ...isolated(), downloadBaseUrl: base })).rejects.toThrow(
      `GET ${base}train-images-idx3-ubyte.gz: HTTP 404 Not Found`);
    const local = path.join(root, 'local');
    expect(fs.existsSync(local) ? fs.readdirSync(local) : []).toEqual([]);
  });

  test('without allowDownload nothing is requested', async () => {
    await expect(loadFashionMnist(isolated())).rejects.toThrow(/Fashion-MNIST not found/);
    expect(requests).toEqual([]);
  });

  test('a file with no known digest is refused', async () => {
    await expect(downloadFashionMnist({ ...isolated(), expectedSha256: {} })).rejects.toThrow(
      'train-images-idx3-ubyte.gz: no expected SHA-256 known, refusing to download it unverified');
    expect(requests).toEqual([]);
  });

  test('the embedded digests cover the four official files', () => {
    expect(Object.keys(FASHION_MNIST_SHA256).sort()).toEqual(Object.keys(contents).sort());
    for (const d of Object.values(FASHION_MNIST_SHA256)) expect(d).toMatch(/^[0-9a-f]{64}$/);
  });

  test('httpGetBuffer rejects unsupported protocols and unreachable hosts clearly', async () => {
    await expect(httpGetBuffer('ftp://127.0.0.1/x')).rejects.toThrow('unsupported protocol in ftp://127.0.0.1/x');
    // Port 1 on loopback is closed: connection refused, fast, and still no real network.
    await expect(httpGetBuffer('http://127.0.0.1:1/x')).rejects.toThrow(/^GET http:\/\/127\.0\.0\.1:1\/x: .*ECONNREFUSED/);
  });

  describe('provisionFashionMnist', () => {
    test('reports where the data already is', async () => {
      writeFashionDir(path.join(root, 'system'));
      const logs: string[] = [];
      const r = await provisionFashionMnist((s) => logs.push(s), isolated());
      expect(r).toEqual({ action: 'already-present', dir: path.join(root, 'system') });
      expect(logs.join('\n')).toContain(`already available in ${path.join(root, 'system')}`);
      expect(requests).toEqual([]);
    });

    test('as root on Debian: apt-get install, retried after apt-get update', async () => {
      const commands: string[] = [];
      const runCommand = (cmd: string, args: string[]) => {
        commands.push([cmd, ...args].join(' '));
        if (commands.length === 1) return 100; // first install fails: stale package index
        if (args[0] === 'install') writeFashionDir(path.join(root, 'system'));
        return 0;
      };
      const r = await provisionFashionMnist(() => undefined, { ...isolated(), useApt: true, runCommand });
      expect(commands).toEqual([
        'apt-get install -y dataset-fashion-mnist', 'apt-get update', 'apt-get install -y dataset-fashion-mnist',
      ]);
      expect(r).toEqual({ action: 'apt', dir: path.join(root, 'system') });
      expect(requests).toEqual([]);
    });

    test('falls back to downloading when apt fails or is unavailable', async () => {
      const logs: string[] = [];
      const r = await provisionFashionMnist((s) => logs.push(s), { ...isolated(), useApt: true, runCommand: () => 1 });
      expect(r).toEqual({ action: 'download', dir: path.join(root, 'local') });
      expect(logs.join('\n')).toMatch(/apt-get did not provide Fashion-MNIST[\s\S]*downloaded and verified/);
      removeDir(path.join(root, 'local'));
      const r2 = await provisionFashionMnist(() => undefined, { ...isolated(), useApt: false });
      expect(r2.action).toBe('download');
      expect(fs.readdirSync(path.join(root, 'local'))).toHaveLength(4);
    });
  });

  describe('ensureFashionMnist (what the main commands call first)', () => {
    test('says nothing and does nothing when the files are there', async () => {
      writeFashionDir(path.join(root, 'system'));
      const logs: string[] = [];
      expect(await ensureFashionMnist((s) => logs.push(s), isolated())).toEqual({ action: 'already-present', dir: path.join(root, 'system') });
      expect(logs).toEqual([]);
      expect(requests).toEqual([]);
    });

    test('provisions like npm run data and says so', async () => {
      const logs: string[] = [];
      const r = await ensureFashionMnist((s) => logs.push(s), { ...isolated(), useApt: false });
      expect(r).toEqual({ action: 'download', dir: path.join(root, 'local') });
      expect(logs[0]).toMatch(/^Fashion-MNIST is not installed; provisioning it as `npm run data` does/);
      expect(logs[logs.length - 1]).toBe(`Fashion-MNIST ready in ${path.join(root, 'local')} (downloaded and verified)`);
    });

    test('when neither apt nor the download works, stops with the loader\'s not-found message and the reason', async () => {
      const err = await ensureFashionMnist(() => undefined, { ...isolated(), useApt: false, downloadBaseUrl: 'http://127.0.0.1:1/' })
        .then(() => null, (e: Error) => e);
      expect(err).not.toBeNull();
      expect(err!.message).toMatch(/^Fashion-MNIST not found: looked for/);
      expect(err!.message).toContain('npm run data');
      expect(err!.message).toMatch(/Automatic provisioning failed: .*ECONNREFUSED/);
    });
  });
});
