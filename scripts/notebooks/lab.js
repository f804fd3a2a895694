#!/usr/bin/env node
// Runs every notebook in a real JupyterLab, driven by headless Chromium (npm run test:jupyterlab); the logic is in src/notebook/jupyterLab.ts.
'use strict';
require('../runCompiled')('notebook/cli.js', 'mainLab');
