/** Probe and metrics paths, the same on the API and on each worker's listener. */
export enum OpsPath {
  Live = '/healthz',
  Ready = '/readyz',
  /** The probe of earlier versions; answers as /readyz does. */
  LegacyHealth = '/health',
  Metrics = '/metrics',
  /** The API's queue backlog as JSON, for an autoscaler (KEDA's metrics-api trigger). */
  QueueDepth = '/queue-depth',
}

/**
 * Every ops path: probes and Prometheus reach them without an API key and outside the rate
 * limit, so the API's guard and its OpenAPI document both take this one set.
 */
export const OPEN_PATHS: ReadonlySet<string> = new Set(Object.values(OpsPath));

export type ReadinessChecks = Record<string, () => Promise<unknown> | boolean>;

export interface Readiness {
  ready: boolean;
  /** Each check by name: true when it passed. */
  checks: Record<string, boolean>;
}

/** How long a probe waits for a dependency: a client that queues commands would never answer. */
export const READINESS_TIMEOUT_MS = 2000;

/**
 * Runs every check at once; a check fails by returning false, throwing, rejecting or taking
 * longer than timeoutMs.
 */
export async function checkReadiness(
  checks: ReadinessChecks,
  timeoutMs = READINESS_TIMEOUT_MS,
): Promise<Readiness> {
  const names = Object.keys(checks);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const outcomes = await Promise.allSettled(
    names.map(async (name) => Promise.race([checks[name]?.(), timeout])),
  );
  clearTimeout(timer);
  const results = Object.fromEntries(
    names.map((name, i) => {
      const outcome = outcomes[i];
      return [name, outcome?.status === 'fulfilled' && outcome.value !== false];
    }),
  );
  return { ready: Object.values(results).every(Boolean), checks: results };
}
