#!/usr/bin/env node
// Build step after `tsc`: copies the files tsc does not emit — the local chat page's index.html
// and stylesheet — from src/ to the same place under dist/, next to the compiled client code
// (src/platforms/local/page.ts serves them from there).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Folders under src/ whose static files are copied. */
const FOLDERS = ['platforms/local/public'];
/** What is copied: everything else there is TypeScript (compiled by tsc) or its tsconfig.json. */
const STATIC = new Set(['.html', '.css']);

for (const folder of FOLDERS) {
  const from = path.join(root, 'src', folder);
  const to = path.join(root, 'dist', folder);
  fs.mkdirSync(to, { recursive: true });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    if (entry.isFile() && STATIC.has(path.extname(entry.name))) fs.copyFileSync(path.join(from, entry.name), path.join(to, entry.name));
  }
}
