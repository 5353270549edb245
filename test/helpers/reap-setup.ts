/**
 * vitest setup file (every project, vitest.config.ts and vitest.chaos.config.ts): after each test
 * file, ends every process it left behind (./reap.ts).
 */
import { afterAll } from 'vitest';
import { reapAll } from './reap.js';

afterAll(() => {
  const found = reapAll();
  if (found.length) console.warn(`reaped ${found.length} process(es) left behind by this test file:\n  ${found.join('\n  ')}`);
});
