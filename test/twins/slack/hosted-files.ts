/**
 * Files people upload on the Slack twin (inbound files): a test registers a file (name, bytes,
 * MIME type) and gets Slack's file object for it, to attach to a message
 * (`SlackTwin.userPosts({files})`); the twin serves the bytes at the object's private URLs.
 *
 * Slack facts (api.slack.com "File object", "Working with files" → "Authentication for
 * downloads"): a file object has `id` (`F…`), `name`, `title`, `mimetype`, `filetype`,
 * `pretty_type`, `size` (bytes), `mode: "hosted"`, `url_private` and `url_private_download`
 * (`https://files.slack.com/files-pri/<team>-<id>/<name>` and `…/download/<name>`), `permalink`,
 * `user`, `created`. The private URLs need `Authorization: Bearer <token>` with `files:read`;
 * without a valid token Slack answers HTTP 200 with its HTML sign-in page, not an error status.
 * Here the URLs point at the twin's own server (`GET /files-pri/…`), the only token taken is the
 * bot token, and a fault can be set per file (`failDownloads`: an HTTP status instead of the file).
 */

/** A file registered with {@link HostedFiles.add}. */
export interface HostedFile {
  id: string;
  name: string;
  mimetype: string;
  bytes: Buffer;
  /** Who uploaded it (a user id). */
  user: string;
  /** Unix seconds. */
  created: number;
  /** Pending faults: each download takes the first and answers its status instead of the file. */
  faults: number[];
}

export interface HostedFileInput {
  name: string;
  content: Buffer | string;
  /** Default `text/plain`. */
  mimetype?: string;
  /** Uploader (default `U0ALICE`). */
  user?: string;
}

/** What a download request gets. */
export interface DownloadAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** The file asked for, when the path named one. */
  fileId?: string;
}

/** Slack's sign-in page, as it answers a private file URL without a valid token (HTTP 200). */
export const LOGIN_PAGE = '<!DOCTYPE html><html lang="en"><head><title>Slack</title></head><body><h1>Sign in to Slack</h1></body></html>';

export class HostedFiles {
  private readonly files = new Map<string, HostedFile>();

  constructor(
    private readonly teamId: string,
    private readonly baseUrl: () => string,
  ) {}

  /** Registers a file; @returns Slack's file object for it (put it in a message's `files`). */
  add(input: HostedFileInput): Record<string, unknown> {
    const id = `F0IN${String(this.files.size + 1).padStart(6, '0')}`;
    const bytes = typeof input.content === 'string' ? Buffer.from(input.content, 'utf8') : input.content;
    const file: HostedFile = {
      id,
      name: input.name,
      mimetype: input.mimetype ?? 'text/plain',
      bytes,
      user: input.user ?? 'U0ALICE',
      created: Math.floor(Date.now() / 1000),
      faults: [],
    };
    this.files.set(id, file);
    return this.object(file);
  }

  get(id: string): HostedFile | undefined {
    return this.files.get(id);
  }

  /** The next `times` downloads of file `id` answer HTTP `status` (e.g. 404, 500) instead of the file. */
  failDownloads(id: string, status: number, times = 1): void {
    const file = this.files.get(id);
    if (!file) throw new Error(`no hosted file ${id}`);
    for (let i = 0; i < times; i++) file.faults.push(status);
  }

  /** Slack's file object for a registered file. */
  object(file: HostedFile): Record<string, unknown> {
    const base = `${this.baseUrl()}/files-pri/${this.teamId}-${file.id}`;
    const name = encodeURIComponent(file.name);
    const ext = /\.([A-Za-z0-9]+)$/.exec(file.name)?.[1]?.toLowerCase() ?? 'binary';
    return {
      id: file.id,
      created: file.created,
      timestamp: file.created,
      name: file.name,
      title: file.name,
      mimetype: file.mimetype,
      filetype: ext,
      pretty_type: ext.toUpperCase(),
      user: file.user,
      user_team: this.teamId,
      editable: false,
      size: file.bytes.length,
      mode: 'hosted',
      is_external: false,
      external_type: '',
      is_public: true,
      public_url_shared: false,
      display_as_bot: false,
      username: '',
      url_private: `${base}/${name}`,
      url_private_download: `${base}/download/${name}`,
      permalink: `${this.baseUrl()}/files/${file.user}/${file.id}/${name}`,
      is_starred: false,
      has_rich_preview: false,
      file_access: 'visible',
    };
  }

  /**
   * Answers `GET <path>` for a private URL: with the bot token the file (its MIME type and
   * length), or its pending fault's status; without it (or with another token) 200 with
   * {@link LOGIN_PAGE} as `text/html`, as Slack does; an unknown file 404. Undefined for paths
   * that are not `/files-pri/…`.
   */
  serve(pathname: string, tokenOk: boolean): DownloadAnswer | undefined {
    const m = /^\/files-pri\/([A-Za-z0-9]+)-(F[A-Za-z0-9]+)\/(?:download\/)?[^/]+$/.exec(pathname);
    if (!m) return undefined;
    const file = m[1] === this.teamId ? this.files.get(m[2]!) : undefined;
    if (!tokenOk) return { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: Buffer.from(LOGIN_PAGE), fileId: m[2] };
    if (!file) return { status: 404, headers: { 'content-type': 'text/plain' }, body: Buffer.from('file not found'), fileId: m[2] };
    const fault = file.faults.shift();
    if (fault !== undefined) return { status: fault, headers: { 'content-type': 'text/plain' }, body: Buffer.from(`error ${fault}`), fileId: file.id };
    return { status: 200, headers: { 'content-type': file.mimetype }, body: file.bytes, fileId: file.id };
  }
}
