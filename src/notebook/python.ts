/** Finding the Python that runs Jupyter (for `tslab install` and notebook signing). */
import * as fs from 'fs';
import * as path from 'path';

/**
 * A Python with jupyter_client: $PYTHON, else the interpreter in the shebang of the `jupyter` on PATH,
 * else /usr/bin/python3 (Debian's, which the Debian Jupyter packages use), else `python3`.
 */
export function findPython(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PYTHON) return env.PYTHON;
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    const j = path.join(dir, 'jupyter');
    try {
      const first = fs.readFileSync(j, 'utf8').split('\n', 1)[0];
      const m = /^#!\s*(\S+)(?:\s+(\S+))?/.exec(first);
      if (m) {
        if (path.basename(m[1]) === 'env' && m[2]) return m[2];
        if (/python/.test(path.basename(m[1]))) return m[1];
      }
    } catch {
      // not here
    }
  }
  return fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}
