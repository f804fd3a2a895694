#!/usr/bin/env node
// Strips outputs from notebooks (npm run notebooks:clean); the logic is in src/notebook/cli.ts.
'use strict';
require('../runCompiled')('notebook/cli.js', 'mainClean');
