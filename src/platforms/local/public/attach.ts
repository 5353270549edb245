/**
 * Files to send with the next message (issue 13 "files in"): picked with the 📎 button, pasted
 * into the composer, or dropped on the thread (wired in `./app.ts`). Each file is uploaded at once
 * (`POST /api/local/files`, `../api.ts`) and shows as a chip — name, size, a remove button —
 * above the composer; the message then carries the upload ids (`files`).
 *
 * A file over the server's limit (`maxFileBytes` of `GET /api/local/channels`) is refused before
 * any upload, and a refusal of the server (413, or any other error) removes the chip; both show
 * `Not attached: …` in the composer's error line, and the typed text is left alone. At most
 * {@link MAX_FILES} per message.
 *
 * Test hooks: `data-testid` = attachments (the list), attachment (a chip, with `data-state`
 * `uploading` | `ready` and `data-id` once uploaded), attachment-remove.
 */
import { el } from './dom.js';

/** Most files one message carries (the server's rule, `../api.ts` MAX_FILES_PER_MESSAGE). */
export const MAX_FILES = 10;

/** What `POST /api/local/files` answers. */
export interface UploadedFile {
  id: string;
  name: string;
  type: string;
  size: number;
}

/** One chip: a file being uploaded or uploaded. */
interface Pending {
  chip: HTMLLIElement;
  /** The upload id once uploaded. */
  id?: string;
  /** Settles when the upload ended (either way). */
  done: Promise<void>;
}

/** `512 B`, `1.5 KiB`, `3 MiB`. */
export function fmtSize(n: number): string {
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(1).replace(/\.0$/, '') + ' KiB';
  return (n / 1024 / 1024).toFixed(1).replace(/\.0$/, '') + ' MiB';
}

export interface AttachmentsOptions {
  /** The `<ul>` the chips go in. */
  list: HTMLElement;
  /** Uploads one file; rejects with an Error whose message is the server's `{error}`. */
  upload(file: File): Promise<UploadedFile>;
  /** Shows a problem in the composer's error line. */
  showError(text: string): void;
}

/** The files of the next message. */
export class Attachments {
  /** The largest file the server takes, bytes; undefined: not known (the server still checks). */
  maxBytes: number | undefined;
  private pending: Pending[] = [];

  constructor(private readonly opts: AttachmentsOptions) {}

  /** Number of chips (uploading or uploaded). */
  get count(): number {
    return this.pending.length;
  }

  /** Adds files: each becomes a chip and is uploaded; a file too many or too large is refused with an error. */
  add(files: ArrayLike<File>): void {
    const refused: string[] = [];
    for (const file of Array.from(files)) {
      if (this.pending.length >= MAX_FILES) {
        refused.push(`${file.name}: at most ${MAX_FILES} files per message`);
        continue;
      }
      if (this.maxBytes !== undefined && file.size > this.maxBytes) {
        refused.push(`${file.name} (${fmtSize(file.size)}) is larger than the ${fmtSize(this.maxBytes)} limit per file`);
        continue;
      }
      this.start(file);
    }
    this.opts.showError(refused.length > 0 ? 'Not attached: ' + refused.join('; ') : '');
  }

  /**
   * The upload ids of the chips once every upload in progress has ended (failed ones are gone by
   * then). Chips added later are not waited for.
   */
  ready(): Promise<string[]> {
    const now = this.pending.slice();
    return Promise.all(now.map((p) => p.done)).then(() => now.filter((p) => p.id !== undefined && this.pending.indexOf(p) >= 0).map((p) => p.id!));
  }

  /** Removes the chips of these upload ids (they were sent). */
  sent(ids: readonly string[]): void {
    for (const p of this.pending.slice()) if (p.id !== undefined && ids.indexOf(p.id) >= 0) this.remove(p);
  }

  private start(file: File): void {
    const chip = el('li', 'chip');
    chip.setAttribute('data-testid', 'attachment');
    chip.setAttribute('data-state', 'uploading');
    chip.appendChild(el('span', 'chip-name', file.name));
    const size = el('span', 'chip-size', fmtSize(file.size) + ' · uploading…');
    chip.appendChild(size);
    const remove = el('button', 'chip-remove', '×');
    remove.type = 'button';
    remove.setAttribute('data-testid', 'attachment-remove');
    remove.setAttribute('aria-label', 'Remove ' + file.name);
    remove.title = 'Remove';
    chip.appendChild(remove);
    this.opts.list.appendChild(chip);
    this.opts.list.hidden = false;
    const pending: Pending = { chip, done: Promise.resolve() };
    remove.addEventListener('click', () => this.remove(pending));
    pending.done = this.opts.upload(file).then(
      (uploaded) => {
        pending.id = uploaded.id;
        chip.setAttribute('data-state', 'ready');
        chip.setAttribute('data-id', uploaded.id);
        size.textContent = fmtSize(uploaded.size);
      },
      (e: unknown) => {
        if (this.pending.indexOf(pending) < 0) return;
        this.remove(pending);
        // The server's error names the file when it got that far (the 413 of the file part), not always (Content-Length).
        const why = e instanceof Error ? e.message : String(e);
        this.opts.showError('Not attached: ' + (why.indexOf(file.name) >= 0 ? why : file.name + ': ' + why));
      },
    );
    this.pending.push(pending);
  }

  private remove(p: Pending): void {
    const i = this.pending.indexOf(p);
    if (i >= 0) this.pending.splice(i, 1);
    p.chip.remove();
    this.opts.list.hidden = this.pending.length === 0;
  }
}
