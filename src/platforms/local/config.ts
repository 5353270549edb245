/**
 * The local web chat's variable: AGENTBRIDGE_LOCAL_CHAT (`auto`: only when no other platform is
 * configured; `on`; `off`). Its security settings that concern the whole HTTP server
 * (AGENTBRIDGE_PUBLIC_URL, AGENTBRIDGE_HTTP_HOST, the access lists) stay in `src/config.ts`.
 */
import { z } from 'zod';
import { platformConfig } from '../module.js';

/** The local chat's settings (`config.local`; always present). */
export interface LocalChatConfig {
  /** AGENTBRIDGE_LOCAL_CHAT. */
  chat: 'auto' | 'on' | 'off';
}

/** The local chat's variables. */
export const localConfig = platformConfig({
  env: { AGENTBRIDGE_LOCAL_CHAT: z.enum(['auto', 'on', 'off']).default('auto') },
  read: (e): LocalChatConfig => ({ chat: e.AGENTBRIDGE_LOCAL_CHAT }),
});
