#!/usr/bin/env node
// Runs the whole vitest suite and ends with the plain closing line CI readers understand
// ("tests: N passed, N failed, N skipped"), taken from vitest's JSON report.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const report = join(mkdtempSync(join(tmpdir(), 'rtfmri-test-')), 'vitest.json');
const r = spawnSync(
  'npx',
  ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)],
  { stdio: 'inherit' },
);
if (existsSync(report)) {
  const j = JSON.parse(readFileSync(report, 'utf8'));
  const skipped = (j.numPendingTests ?? 0) + (j.numTodoTests ?? 0);
  // Unhandled errors fail the run without failing a test: count them, so the closing line never
  // says "0 failed" for a failed run.
  let failed = j.numFailedTests;
  if (r.status !== 0 && failed === 0) {
    console.log('\nvitest exited with an error (unhandled errors above): counted as one failure');
    failed = 1;
  }
  console.log(`\ntests: ${j.numPassedTests} passed, ${failed} failed, ${skipped} skipped`);
} else {
  console.log('\ntests: 0 passed, 1 failed (vitest wrote no report)');
}
process.exit(r.status ?? 1);
