// Types of /assets/vendor-highlight.js (highlight.js core with the common languages, the ES build of
// @highlightjs/cdn-assets served from node_modules by ../vendor.ts): the part of its API the page uses.

/** A highlighting result: `value` is HTML (spans with `hljs-*` classes; the code is escaped). */
export interface HighlightResult {
  value: string;
  /** The language used (detected by `highlightAuto`). */
  language?: string;
  relevance: number;
}

export interface HLJSApi {
  /** Highlights `code` as `options.language` (a name or alias `getLanguage` knows). */
  highlight(code: string, options: { language: string; ignoreIllegals?: boolean }): HighlightResult;
  /** Highlights `code` in the language that fits best (of `languageSubset` when given). */
  highlightAuto(code: string, languageSubset?: string[]): HighlightResult;
  /** The language definition for a name or alias, or undefined. */
  getLanguage(name: string): { name?: string } | undefined;
}

declare const hljs: HLJSApi;
export default hljs;
