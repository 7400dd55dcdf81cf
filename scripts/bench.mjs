#!/usr/bin/env node
// Runs every workspace package's `bench` script (packages/*, examples/*) and prints one table.
// Convention: a package benchmark prints what it likes and appends one JSON object per figure
// ({ package, case, metric, value, unit, note? }) to the file named by RTFMRI_BENCH_JSON.
// Usage: node scripts/bench.mjs [--only <package-dir-name>]...
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const only = process.argv.flatMap((a, i, all) => (a === '--only' ? [all[i + 1]] : []));
const out = join(mkdtempSync(join(tmpdir(), 'rtfmri-bench-')), 'figures.jsonl');

const dirs = ['packages', 'examples'].flatMap((group) =>
  existsSync(join(root, group)) ? readdirSync(join(root, group)).map((d) => join(root, group, d)) : [],
);
let failed = 0;
for (const dir of dirs) {
  const manifest = join(dir, 'package.json');
  if (!existsSync(manifest)) continue;
  const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
  if (!pkg.scripts?.bench) continue;
  if (only.length && !only.some((o) => dir.endsWith(o))) continue;
  console.log(`\n=== ${pkg.name}: ${pkg.scripts.bench}`);
  const r = spawnSync('npm', ['run', '--silent', 'bench'], {
    cwd: dir,
    stdio: 'inherit',
    env: { ...process.env, RTFMRI_BENCH_JSON: out },
  });
  if (r.status !== 0) {
    failed++;
    console.error(`!!! ${pkg.name} benchmark exited with ${r.status}`);
  }
}

const rows = existsSync(out)
  ? readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
  : [];
const fmt = (v) => (typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3)) : String(v ?? ''));
const table = [['package', 'case', 'metric', 'value', 'unit', 'note']].concat(
  rows.map((r) => [r.package, r.case, r.metric, fmt(r.value), r.unit ?? '', r.note ?? '']),
);
const widths = table[0].map((_, c) => Math.max(...table.map((row) => String(row[c]).length)));
console.log('\n=== rtfmri benchmark summary');
for (const [i, row] of table.entries()) {
  console.log(row.map((cell, c) => String(cell).padEnd(widths[c])).join('  ').trimEnd());
  if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
}
process.exit(failed ? 1 : 0);
