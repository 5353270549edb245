/**
 * `cron …` (admin): recurring prompts posted to a channel, through the scheduler's CronService.
 *
 *   /agent cron add <name> "<schedule>" [--tz <zone>] [--agent <a registered agent: claude|codex|gemini|…>] [--model <m>] [--persistent] <prompt…>
 *   /agent cron list
 *   /agent cron pause|resume|remove|run-now <name>
 *
 * `<schedule>` is a cron expression (5 or 6 fields, time zone `--tz`, default UTC), `every 15m`
 * (s/m/h/d) or `at <ISO time with offset>`; quote it when it has spaces ("…", '…' or “…”).
 * The job posts in the channel where the command was given (a new thread per run; with
 * `--persistent` the runs share one agent session). Examples:
 *
 *   /agent cron add standup "0 9 * * 1-5" --tz Europe/Berlin Summarise yesterday's commits
 *   /agent cron add ping "every 2h" Check that the build is green
 */
import type { AgentName } from '../../core/agents.js';
import { agentNames, isAgentName } from '../../runners/registry.js';
import type { CronJob } from '../../core/schedule.js';
import { ScheduleError, type CronJobInput } from '../../scheduler/types.js';
import { reply, type Command, type CommandContext, type CommandResult } from './types.js';

type Args =
  | { sub: 'list' }
  | { sub: 'pause' | 'resume' | 'remove' | 'run-now'; name: string }
  | { sub: 'add'; name: string; schedule: string; tz?: string; agent?: AgentName; model?: string; persistent: boolean; prompt: string };

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const OPEN_QUOTES: Record<string, string> = { '"': '"', "'": "'", '“': '”', '‘': '’', '„': '“' };

interface Token {
  value: string;
  /** Offset just past the token in the source text. */
  end: number;
  quoted: boolean;
}

/** Splits `text` into whitespace-separated tokens; quoted tokens may contain spaces. Undefined for an unclosed quote. */
export function tokenize(text: string): Token[] | undefined {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (i >= text.length) break;
    const close = OPEN_QUOTES[text[i]!];
    if (close) {
      const end = text.indexOf(close, i + 1);
      if (end < 0) return undefined;
      out.push({ value: text.slice(i + 1, end), end: end + 1, quoted: true });
      i = end + 1;
      continue;
    }
    let j = i;
    while (j < text.length && !/\s/.test(text[j]!)) j++;
    out.push({ value: text.slice(i, j), end: j, quoted: false });
    i = j;
  }
  return out;
}

/** Parses the arguments of `cron`; undefined when they do not fit. */
export function parseCronArgs(args: string): Args | undefined {
  const tokens = tokenize(args);
  if (!tokens || tokens.length === 0) return undefined;
  const sub = tokens[0]!.value.toLowerCase();
  if (sub === 'list') return tokens.length === 1 ? { sub } : undefined;
  if (sub === 'pause' || sub === 'resume' || sub === 'remove' || sub === 'run-now') {
    return tokens.length === 2 && NAME.test(tokens[1]!.value) ? { sub, name: tokens[1]!.value } : undefined;
  }
  if (sub !== 'add') return undefined;
  const name = tokens[1];
  const schedule = tokens[2];
  if (!name || !schedule || name.quoted || !NAME.test(name.value) || !schedule.value.trim()) return undefined;
  const out: Extract<Args, { sub: 'add' }> = { sub: 'add', name: name.value, schedule: schedule.value.trim(), persistent: false, prompt: '' };
  let k = 3;
  let end = schedule.end;
  for (; k < tokens.length; k++) {
    const t = tokens[k]!;
    if (t.quoted || !t.value.startsWith('--')) break;
    const value = tokens[k + 1];
    switch (t.value) {
      case '--persistent':
        out.persistent = true;
        end = t.end;
        continue;
      case '--tz':
      case '--model':
        if (!value) return undefined;
        if (t.value === '--tz') out.tz = value.value;
        else out.model = value.value;
        break;
      case '--agent':
        if (!value || !isAgentName(value.value)) return undefined;
        out.agent = value.value;
        break;
      default:
        return undefined;
    }
    k++;
    end = value.end;
  }
  out.prompt = args.slice(end).trim();
  return out.prompt ? out : undefined;
}

function iso(ms: number | null): string {
  return ms === null ? '—' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function describeJob(j: CronJob): string {
  const tz = j.schedule.kind === 'cron' ? ` (${j.schedule.tz})` : '';
  const state = j.enabled ? `next ${iso(j.nextRunAt)}` : 'paused';
  const extra = [j.agent, j.model, j.sessionMode === 'persistent' ? 'persistent' : undefined].filter(Boolean).join(', ');
  return `- \`${j.name}\` — \`${j.scheduleText}\`${tz} → ${j.target.platform}:${j.target.channel} — ${state}${extra ? ` — ${extra}` : ''}\n    ${j.prompt.length > 120 ? `${j.prompt.slice(0, 120)}…` : j.prompt}`;
}

async function run(ctx: CommandContext, a: Args): Promise<CommandResult> {
  const cron = ctx.deps.cron;
  if (!cron) return reply('The scheduler is not running in this agentbridge, so cron jobs are not available.', true);
  const log = ctx.deps.logger.child({ by: ctx.caller.qualifiedId, command: `cron ${a.sub}` });
  try {
    if (a.sub === 'list') {
      const jobs = await cron.list();
      if (!jobs.length) return reply('No cron jobs yet. Add one with `/agent cron add <name> "<schedule>" <prompt…>`.', true);
      return reply([`**Cron jobs** (${jobs.length})`, '', ...jobs.map(describeJob)].join('\n'), true);
    }
    if (a.sub === 'add') {
      const input: CronJobInput = {
        name: a.name,
        schedule: a.schedule,
        target: { platform: ctx.caller.platform, channel: ctx.place.channel },
        prompt: a.prompt,
        createdBy: ctx.caller.qualifiedId,
        sessionMode: a.persistent ? 'persistent' : 'isolated',
        ...(a.tz ? { tz: a.tz } : {}),
        ...(a.agent ? { agent: a.agent } : {}),
        ...(a.model ? { model: a.model } : {}),
      };
      const job = await cron.add(input);
      log.info({ job: job.id, name: job.name }, 'cron job added');
      return reply(`⏰ Cron job \`${job.name}\` added: \`${job.scheduleText}\` → this channel; next run ${iso(job.nextRunAt)}.`);
    }
    const job = await cron.get(a.name);
    if (!job) return reply(`No cron job named \`${a.name}\`. \`/agent cron list\` shows them.`, true);
    switch (a.sub) {
      case 'pause':
        await cron.pause(job.id);
        log.info({ job: job.id }, 'cron job paused');
        return reply(`⏸️ Cron job \`${job.name}\` paused.`);
      case 'resume': {
        const j = await cron.resume(job.id);
        log.info({ job: job.id }, 'cron job resumed');
        return reply(`▶️ Cron job \`${job.name}\` resumed; next run ${iso(j.nextRunAt)}.`);
      }
      case 'remove':
        await cron.remove(job.id);
        log.info({ job: job.id }, 'cron job removed');
        return reply(`🗑️ Cron job \`${job.name}\` removed.`);
      case 'run-now': {
        const r = await cron.runNow(job.id);
        log.info({ job: job.id, run: r.id }, 'cron job run started by command');
        return reply(`🚀 Started a run of \`${job.name}\` (run ${r.id}).`);
      }
    }
  } catch (err) {
    if (err instanceof ScheduleError) return reply(`⚠️ ${err.message} Nothing changed.`, true);
    throw err;
  }
}

export const cron: Command<Args> = {
  name: 'cron',
  admin: true,
  needsConversation: false,
  args: 'add|list|pause|resume|remove|run-now …',
  summary: 'recurring prompts posted to this channel',
  // A getter: the agent names come from the runner registry when the help is shown.
  get details() {
    return [
      `cron add <name> "<schedule>" [--tz <zone>] [--agent <${agentNames().join('|')}>] [--model <m>] [--persistent] <prompt…>`,
      '  schedule: a cron expression ("0 9 * * 1-5", UTC unless --tz), "every 15m" (s/m/h/d) or "at 2026-12-01T09:00:00+01:00"',
      'cron list · cron pause <name> · cron resume <name> · cron remove <name> · cron run-now <name>',
    ].join('\n');
  },
  parse: parseCronArgs,
  run,
};
