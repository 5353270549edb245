/**
 * The `cluster_instances` table (migration 014): one row per agentbridge instance of a cluster,
 * written by its heartbeat (src/cluster/instances.ts) and read by `cluster status`.
 */
import { sql } from 'kysely';
import type { ClusterRole } from '../../../core/config.js';
import { all, run, type SqlContext } from '../kysely.js';
import type { ClusterInstanceRow, ClusterInstancesRepo } from '../../types.js';

interface InstanceSql {
  id: string;
  host: string;
  pid: number;
  roles: string;
  url: string | null;
  started_at: number;
  heartbeat_at: number;
  turns_running: number;
  stopped_at: number | null;
}

function toRow(r: InstanceSql): ClusterInstanceRow {
  return {
    id: r.id,
    host: r.host,
    pid: r.pid,
    roles: r.roles ? (r.roles.split(',') as ClusterRole[]) : [],
    url: r.url,
    startedAt: r.started_at,
    heartbeatAt: r.heartbeat_at,
    turnsRunning: r.turns_running,
    stoppedAt: r.stopped_at,
  };
}

/**
 * Creates the repository. `beat` is one `INSERT … ON CONFLICT (id) DO UPDATE` (every column from
 * the row, `stopped_at` cleared: an instance that beats runs); `roles` is stored comma-separated.
 */
export function createClusterInstancesRepo({ q }: SqlContext): ClusterInstancesRepo {
  return {
    async beat(r) {
      await run(
        q,
        sql`INSERT INTO cluster_instances (id, host, pid, roles, url, started_at, heartbeat_at, turns_running, stopped_at)
            VALUES (${r.id}, ${r.host}, ${r.pid}, ${r.roles.join(',')}, ${r.url}, ${r.startedAt}, ${r.heartbeatAt}, ${r.turnsRunning}, NULL)
            ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, roles = excluded.roles, url = excluded.url,
              started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, turns_running = excluded.turns_running, stopped_at = NULL`,
      );
    },
    async list() {
      return (await all(q, sql<InstanceSql>`SELECT * FROM cluster_instances ORDER BY id`)).map(toRow);
    },
    async markStopped(id, at) {
      return (await run(q, sql`UPDATE cluster_instances SET stopped_at = ${at}, turns_running = 0 WHERE id = ${id}`)) > 0;
    },
    prune: (before) => run(q, sql`DELETE FROM cluster_instances WHERE heartbeat_at < ${before}`),
  };
}
