/**
 * `agentbridge cron add|list|show|pause|resume|remove|run-now|runs`: cron jobs in the data
 * directory, through the same {@link CronJobService} as the admin chat command.
 *
 * `list`, `show` and `runs` open the database read-only and work while agentbridge runs. The
 * others change it and refuse while a running agentbridge owns the data directory (use the chat
 * command `/agent cron …` then). `run-now` while agentbridge is stopped queues the run; it runs
 * right after the next start.
 * Exit codes: 0 ok; 1 the data directory is in use (or another runtime failure); 2 invalid input
 * (schedule, time zone, target, unknown job …).
 */
import type { Command } from 'commander';
import { enabledPlatforms, PLATFORMS } from '../platforms/registry.js';
import type { AgentName } from '../core/agents.js';
import { agentNames } from '../runners/registry.js';
import { CronJobService } from '../scheduler/cron-service.js';
import { describeSchedule } from '../scheduler/schedule.js';
import type { CronJob, CronRun, CronSessionMode, CronTarget } from '../core/schedule.js';
import { ScheduleError } from '../scheduler/types.js';
import type { AppStore } from '../store/open.js';
import { configOrExit, fail } from './env.js';
import { noDatabaseYet, withStore } from './store-access.js';
import { listText } from './text.js';

/**
 * Runs `fn` with the cron service. `write` takes the owner lock first (refused while agentbridge
 * runs) and creates the database if needed; otherwise the database is opened read-only
 * (./store-access.ts). Without a SQLite database, a read prints `noDatabase` when given (else exits 2).
 * A ScheduleError exits 2 with its message. Resolves when `fn` has resolved and the store is closed.
 */
async function withCron(write: boolean, fn: (cron: CronJobService, store: AppStore) => Promise<void>, noDatabase?: string): Promise<void> {
  if (!write && noDatabase !== undefined && noDatabaseYet(configOrExit())) {
    out([noDatabase]);
    return;
  }
  let problem: string | undefined;
  await withStore(
    {
      mode: write ? 'exclusive' : 'inspect',
      create: write,
      noDatabase: '; so no cron jobs yet',
      noDatabaseCode: 2,
      whyExclusive: 'Changing cron jobs while agentbridge runs is done with the chat command `/agent cron …`; or stop agentbridge first.',
    },
    async (store, config) => {
      try {
        await fn(new CronJobService({ store, platforms: enabledPlatforms(config) }), store);
      } catch (err) {
        if (!(err instanceof ScheduleError)) throw err;
        problem = err.message;
      }
    },
  );
  if (problem !== undefined) fail(problem, 2);
}

const iso = (ms: number | null | undefined) => (ms == null ? '-' : new Date(ms).toISOString().replace('.000Z', 'Z'));
const out = (lines: string[]) => process.stdout.write(lines.join('\n') + '\n');

function targetText(t: CronTarget): string {
  return t.conversationId ? `${t.platform} conversation ${t.conversationId}` : `${t.platform} channel ${t.channel}`;
}

function jobLine(j: CronJob): string {
  const state = j.enabled ? 'enabled' : 'paused';
  return `${j.id}  ${j.name}  ${state}  ${describeSchedule(j.schedule)}  → ${targetText(j.target)}  next=${iso(j.nextRunAt)}  last=${iso(j.lastRunAt)}  failures=${j.consecutiveFailures}`;
}

function runLine(r: CronRun): string {
  const when = r.status === 'queued' ? `due=${iso(r.dueAt)}` : `start=${iso(r.startedAt)}  end=${iso(r.endedAt)}`;
  return `#${r.id}  ${r.status}  for=${iso(r.scheduledFor)}  attempt=${r.attempt} (${r.kind})  ${when}  posted=${r.postedKey ?? '-'}${r.error ? `  error=${r.error}` : ''}`;
}

interface AddOptions {
  name: string;
  schedule: string;
  tz?: string;
  platform?: string;
  channel?: string;
  conversation?: string;
  prompt: string;
  agent?: string;
  model?: string;
  session?: string;
}

export function registerCronCommands(program: Command): void {
  const cron = program.command('cron').description('cron jobs: prompts that run on a schedule and post to a channel');

  cron
    .command('add')
    .description('add a cron job (agentbridge must be stopped; in chat use /agent cron)')
    .requiredOption('--name <name>', 'unique name, e.g. ci-summary')
    .requiredOption('--schedule <schedule>', 'cron expression ("0 9 * * MON-FRI"), "every 15m", or "at 2026-12-01T09:00:00+01:00"')
    .option('--tz <zone>', 'IANA time zone of a cron expression, e.g. Europe/Berlin (default UTC)')
    .option(
      '--platform <platform>',
      listText(
        PLATFORMS.map((m) => m.name),
        'or',
      ),
    )
    .option('--channel <channel>', `channel to post to (${PLATFORMS.map((m) => m.channel.label).join(', ')})`)
    .option('--conversation <id>', 'post into this existing conversation (its thread) instead')
    .requiredOption('--prompt <text>', 'what the agent should do on each run')
    .option('--agent <agent>', `${agentNames().join(', ')} (default: the configured agent)`)
    .option('--model <model>', 'model for the agent')
    .option('--session <mode>', 'isolated (fresh agent session per run) or persistent (one session carried run to run)', 'isolated')
    .action((o: AddOptions) =>
      withCron(true, async (service) => {
        if (!o.conversation && (!o.platform || !o.channel)) {
          throw new ScheduleError('a target is required: --platform and --channel, or --conversation');
        }
        const job = await service.add({
          name: o.name,
          schedule: o.schedule,
          tz: o.tz,
          target: {
            platform: (o.platform ?? '') as CronTarget['platform'],
            channel: o.channel ?? '',
            ...(o.conversation ? { conversationId: o.conversation } : {}),
          },
          prompt: o.prompt,
          agent: o.agent as AgentName | undefined,
          model: o.model,
          sessionMode: o.session as CronSessionMode,
          createdBy: 'cli',
        });
        out([`added cron job "${job.name}" (id ${job.id}): ${describeSchedule(job.schedule)} → ${targetText(job.target)}; next run ${iso(job.nextRunAt)}`]);
      }),
    );

  cron
    .command('list')
    .description('list cron jobs (safe while agentbridge runs)')
    .action(() =>
      withCron(
        false,
        async (service) => {
          const jobs = await service.list();
          out(jobs.length ? jobs.map(jobLine) : ['no cron jobs']);
        },
        'no cron jobs',
      ),
    );

  cron
    .command('show <job>')
    .description('show a cron job and its latest runs (safe while agentbridge runs)')
    .action((idOrName: string) =>
      withCron(false, async (service) => {
        const j = await service.get(idOrName);
        if (!j) throw new ScheduleError(`no cron job "${idOrName}" (see: agentbridge cron list)`);
        out([
          `job        ${j.name} (id ${j.id})  ${j.enabled ? 'enabled' : 'paused'}`,
          `schedule   ${j.scheduleText}  [${describeSchedule(j.schedule)}]`,
          `target     ${targetText(j.target)}`,
          `agent      ${j.agent ?? 'default'}${j.model ? `  model=${j.model}` : ''}  session=${j.sessionMode}`,
          `next run   ${iso(j.nextRunAt)}   last run ${iso(j.lastRunAt)}   consecutive failures ${j.consecutiveFailures}`,
          `created    ${iso(j.createdAt)} by ${j.createdBy}`,
          `prompt     ${j.prompt}`,
          '',
          ...(await service.runs(j.id, 5)).map(runLine),
        ]);
      }),
    );

  const simple = (name: string, description: string, act: (service: CronJobService, job: string) => Promise<string>) =>
    cron
      .command(`${name} <job>`)
      .description(description)
      .action((job: string) => withCron(true, async (service) => void out([await act(service, job)])));

  simple('pause', 'pause a cron job (agentbridge must be stopped; in chat use /agent cron)', async (s, j) => `paused "${(await s.pause(j)).name}"`);
  simple('resume', 'resume a paused cron job with a clean failure count (agentbridge must be stopped)', async (s, j) => {
    const job = await s.resume(j);
    return `resumed "${job.name}"; next run ${iso(job.nextRunAt)}`;
  });
  simple('remove', 'delete a cron job and its run history (agentbridge must be stopped)', async (s, j) => {
    if (!(await s.remove(j))) throw new ScheduleError(`no cron job "${j}" (see: agentbridge cron list)`);
    return `removed "${j}"`;
  });
  simple('run-now', 'queue a run now; it runs right after agentbridge starts (agentbridge must be stopped)', async (s, j) => {
    const run = await s.runNow(j);
    return `queued run #${run.id} of "${(await s.get(j))?.name ?? j}"; it runs when agentbridge starts`;
  });

  cron
    .command('runs <job>')
    .description('run history: start, end, status, error, posted message (safe while agentbridge runs)')
    .option('--limit <n>', 'how many, newest first', '20')
    .action((idOrName: string, o: { limit: string }) =>
      withCron(false, async (service) => {
        const runs = await service.runs(idOrName, Number(o.limit) || 20);
        out(runs.length ? runs.map(runLine) : [`no runs of "${idOrName}" yet`]);
      }),
    );
}
