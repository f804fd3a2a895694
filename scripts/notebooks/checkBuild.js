// First code cell of every notebook: the cells after it import the compiled project from ../dist, and
// without it tslab reports one type error per import. This says what to do, in one line.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..', '..');

function newestMtime(dir, ext) {
  let newest = 0;
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(ext)) newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return newest;
}

module.exports = function checkBuild(rootDir = root) {
  if (!fs.existsSync(path.join(rootDir, 'dist', 'index.js'))) {
    // A string, not an Error: tslab prints an Error with its stack, a string as the one line it is.
    throw `dist/ is not built: run \`npm run build\` in ${rootDir}, then restart the kernel and run the notebook again.`;
  }
  const src = newestMtime(path.join(rootDir, 'src'), '.ts');
  const dist = newestMtime(path.join(rootDir, 'dist'), '.js');
  if (src > dist) {
    console.log(`note: src/ changed after the last build (${new Date(src).toISOString()}); run \`npm run build\` and restart the kernel to use the change.`);
  }
};
