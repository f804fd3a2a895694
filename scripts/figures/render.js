#!/usr/bin/env node
// npm run figures: render figure specs to PNG + SVG under figures/ (see src/viz/renderCli.ts).
'use strict';
require('../runCompiled')('viz/renderCli.js', 'main');
