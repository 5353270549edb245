/**
 * Slack's environment variables (README "Slack"): Socket Mode with an app token, else the
 * Events API over HTTP with the signing secret. Slack runs when SLACK_BOT_TOKEN is set.
 */
import { optionalHttpUrl, optionalString, onOff, positiveInt } from '../../core/env-schema.js';
import { platformConfig } from '../module.js';

/** Slack's settings (`config.slack`). */
export interface SlackConfig {
  botToken: string;
  /** Socket Mode when set. */
  appToken?: string;
  /** Events API over HTTP (POST /slack/events) when set and no app token. */
  signingSecret?: string;
  /** Web API base URL ending in `/api/` (default Slack's own). */
  apiUrl?: string;
  allowBots: boolean;
  /** Socket Mode: reconnect when Slack's pings stop for this long, ms (AGENTBRIDGE_SLACK_SOCKET_IDLE_S; default 60 s). */
  socketIdleMs?: number;
}

/** Slack's variables; settings when SLACK_BOT_TOKEN and either SLACK_APP_TOKEN or SLACK_SIGNING_SECRET are set. */
export const slackConfig = platformConfig({
  env: {
    SLACK_BOT_TOKEN: optionalString.refine((v) => v === undefined || v.startsWith('xoxb-'), 'must be a bot token starting with "xoxb-"'),
    SLACK_APP_TOKEN: optionalString.refine((v) => v === undefined || v.startsWith('xapp-'), 'must be an app-level token starting with "xapp-"'),
    SLACK_SIGNING_SECRET: optionalString,
    SLACK_API_URL: optionalHttpUrl,
    SLACK_ALLOW_BOTS: onOff.optional(),
    AGENTBRIDGE_SLACK_SOCKET_IDLE_S: positiveInt(60),
  },
  check(raw) {
    const problems: string[] = [];
    if (raw.SLACK_BOT_TOKEN && !raw.SLACK_APP_TOKEN && !raw.SLACK_SIGNING_SECRET) {
      problems.push('SLACK_BOT_TOKEN: set SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (Events API over HTTP) too');
    }
    if (!raw.SLACK_BOT_TOKEN && (raw.SLACK_APP_TOKEN || raw.SLACK_SIGNING_SECRET)) {
      problems.push('SLACK_BOT_TOKEN: required when SLACK_APP_TOKEN or SLACK_SIGNING_SECRET is set');
    }
    return problems;
  },
  read: (e): SlackConfig | undefined =>
    e.SLACK_BOT_TOKEN
      ? {
          botToken: e.SLACK_BOT_TOKEN,
          appToken: e.SLACK_APP_TOKEN,
          signingSecret: e.SLACK_SIGNING_SECRET,
          apiUrl: slackApiBase(e.SLACK_API_URL),
          allowBots: e.SLACK_ALLOW_BOTS ?? false,
          socketIdleMs: e.AGENTBRIDGE_SLACK_SOCKET_IDLE_S * 1000,
        }
      : undefined,
  agentEnvDeny: ['SLACK_*'],
});

/** Slack's Web API client wants a base ending in `/api/`; accept the host or `/api` too. */
function slackApiBase(url: string | undefined): string | undefined {
  if (!url) return undefined;
  const trimmed = url.replace(/\/+$/, '');
  return trimmed.endsWith('/api') ? `${trimmed}/` : `${trimmed}/api/`;
}
