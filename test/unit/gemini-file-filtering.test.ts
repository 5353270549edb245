/**
 * The settings and ignore file that let Gemini CLI read attached files in a git work tree
 * (src/runners/gemini/file-filtering.ts), and the overlay home that carries them
 * (src/runners/mcp-config.ts `prepareGeminiHome`). The real CLI: test/runners/gemini-files.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ATTACHMENTS_IGNORE_FILE, attachmentsIgnoreText, ignoreFilePathFor, withReadableAttachments } from '../../src/runners/gemini/file-filtering.js';
import { prepareGeminiHome } from '../../src/runners/mcp-config.js';

const dirs: string[] = [];
afterEach(() => {
  while (dirs.length) fs.rmSync(dirs.pop()!, { recursive: true, force: true });
});

function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'agentbridge-gff-'));
  dirs.push(d);
  return d;
}

describe('attachmentsIgnoreText', () => {
  it('negates, anchored at the project root, the .agentbridge folder, its files folder and everything in it — nothing else', () => {
    // That these re-include the files after gemini's gitignore rules is shown with the real CLI (test/runners/gemini-files.test.ts).
    const rules = attachmentsIgnoreText()
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    expect(rules).toEqual(['!/.agentbridge/', '!/.agentbridge/files/', '!/.agentbridge/files/**']);
  });
});

describe('withReadableAttachments', () => {
  it('puts the ignore file first and keeps the user settings and ignore files', () => {
    const user = { model: { name: 'x' }, context: { fileName: 'G.md', fileFiltering: { respectGitIgnore: true, customIgnoreFilePaths: ['mine.ignore', 3] } } };
    const merged = withReadableAttachments(user, '../o/.gemini/agentbridge-files.ignore');
    expect(merged).toEqual({
      model: { name: 'x' },
      context: { fileName: 'G.md', fileFiltering: { respectGitIgnore: true, customIgnoreFilePaths: ['../o/.gemini/agentbridge-files.ignore', 'mine.ignore'] } },
    });
    expect(user.context.fileFiltering.customIgnoreFilePaths).toEqual(['mine.ignore', 3]);
    expect(withReadableAttachments({ context: 'bad' }, 'a')).toEqual({ context: { fileFiltering: { customIgnoreFilePaths: ['a'] } } });
  });

  it('gives a path relative to the working directory (gemini joins it to its project root)', () => {
    expect(ignoreFilePathFor('/home/u/proj', '/tmp/ov/.gemini/x.ignore')).toBe('../../../tmp/ov/.gemini/x.ignore');
    expect(path.join('/home/u/proj', ignoreFilePathFor('/home/u/proj', '/tmp/ov/.gemini/x.ignore'))).toBe('/tmp/ov/.gemini/x.ignore');
  });
});

describe('prepareGeminiHome without tools', () => {
  it('writes the ignore file and settings naming it relative to the real workdir; no token; never copied back', () => {
    const root = tmp();
    const home = path.join(root, 'home');
    const work = path.join(root, 'work');
    fs.mkdirSync(path.join(home, '.gemini'), { recursive: true });
    fs.mkdirSync(work);
    fs.symlinkSync(work, path.join(root, 'link'));
    fs.writeFileSync(path.join(home, '.gemini', 'settings.json'), '{ "general": { "maxAttempts": 1 } }');
    const h = prepareGeminiHome({ HOME: home }, { cwd: path.join(root, 'link') }, root)!;
    const overlay = h.env['GEMINI_CLI_HOME']!;
    expect(h.env['AGENTBRIDGE_MCP_TOKEN']).toBeUndefined();
    expect(fs.readlinkSync(path.join(overlay, '.gemini', 'tmp'))).toBe(path.join(home, '.gemini', 'tmp'));
    const settings = JSON.parse(fs.readFileSync(path.join(overlay, '.gemini', 'settings.json'), 'utf8'));
    expect(settings.general).toEqual({ maxAttempts: 1 });
    expect(settings.mcpServers).toBeUndefined();
    const [rel] = settings.context.fileFiltering.customIgnoreFilePaths;
    // Resolved from the workdir's real path (gemini's process.cwd()), it is the overlay's ignore file.
    expect(path.join(fs.realpathSync(work), rel)).toBe(path.join(overlay, '.gemini', ATTACHMENTS_IGNORE_FILE));
    expect(fs.readFileSync(path.join(overlay, '.gemini', ATTACHMENTS_IGNORE_FILE), 'utf8')).toBe(attachmentsIgnoreText());
    h.finish();
    expect(fs.existsSync(overlay)).toBe(false);
    // gemini's state folders are made in the real home (and linked), so sessions land there at once.
    expect(fs.readdirSync(path.join(home, '.gemini')).sort()).toEqual(['history', 'settings.json', 'tmp']);
  });
});
