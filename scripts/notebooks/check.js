#!/usr/bin/env node
// Runs the notebooks in QUICK mode and checks every page in headless Chromium (npm run test:notebooks); the logic is in src/notebook/cli.ts.
'use strict';
require('../runCompiled')('notebook/cli.js', 'mainCheck');
