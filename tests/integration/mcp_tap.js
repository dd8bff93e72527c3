#!/usr/bin/env node
// A wiretap for MCP over stdio, used by the mcp_* tests: runs a command, passes
// every byte between our stdin/stdout and the command's unchanged, and appends
// each complete line to a log as {"dir":"in"|"out","line":"..."} (in = towards
// the command). Comparing the logs on both sides of `tollgate mcp` shows what
// the gateway relayed byte for byte and what it changed.
// Usage: node mcp_tap.js LOG -- COMMAND [ARGS...]
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');

const log = process.argv[2];
const command = process.argv.slice(process.argv.indexOf('--') + 1);
const child = spawn(command[0], command.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });

function tap(dir) {
  let partial = '';
  return (chunk) => {
    partial += chunk.toString('latin1'); // bytes as-is: one char per byte
    let newline;
    while ((newline = partial.indexOf('\n')) >= 0) {
      const line = Buffer.from(partial.slice(0, newline), 'latin1').toString('utf8');
      fs.appendFileSync(log, JSON.stringify({ dir, line }) + '\n');
      partial = partial.slice(newline + 1);
    }
  };
}
const toChild = tap('in'), fromChild = tap('out');
process.stdin.on('data', (chunk) => { toChild(chunk); child.stdin.write(chunk); });
process.stdin.on('end', () => child.stdin.end());
child.stdin.on('error', () => {});
child.stdout.on('data', (chunk) => { fromChild(chunk); process.stdout.write(chunk); });
child.on('exit', (code, signal) => {
  process.stdout.end(() => process.exit(code === null ? 128 + 15 : code));
});
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.on(signal, () => child.kill(signal));
}
