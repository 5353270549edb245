/** Model used when a request or session names none (gemini's own default is "auto", which adds a routing call first). */
export const DEFAULT_GEMINI_MODEL = 'gemini-2.5-pro';
