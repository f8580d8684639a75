// Offline check of the Grafana dashboard (deploy/grafana/dashboards/*.json): its structure,
// that it shows what operators need, and that every metric it queries is one the services
// export. Writes each query as a recording rule to RULES_OUT, for `promtool check rules`
// to parse the PromQL (Grafana's $__ variables replaced by a fixed range).
// Usage: node scripts/lib/check-dashboard.mjs DASHBOARD.json DATASOURCE.yml RULES_OUT.json
import { readFileSync, writeFileSync } from 'node:fs';
import { MetricName } from '../../packages/shared/dist/index.js';

const [dashboardFile, datasourceFile, rulesOut] = process.argv.slice(2);
const problems = [];
const fail = (msg) => problems.push(msg);

const dashboard = JSON.parse(readFileSync(dashboardFile, 'utf8'));
const datasourceUid = /^\s*uid:\s*(\S+)/m.exec(readFileSync(datasourceFile, 'utf8'))?.[1];

for (const key of ['uid', 'title', 'schemaVersion', 'panels']) {
  if (dashboard[key] === undefined) fail(`dashboard lacks "${key}"`);
}
const exprs = [];
const ids = new Set();
for (const panel of dashboard.panels ?? []) {
  const name = `panel ${panel.id} "${panel.title}"`;
  if (ids.has(panel.id)) fail(`${name}: duplicate id`);
  ids.add(panel.id);
  const { x, y, w, h } = panel.gridPos ?? {};
  if (![x, y, w, h].every(Number.isInteger) || x < 0 || w < 1 || h < 1 || x + w > 24) {
    fail(`${name}: gridPos must be integers within Grafana's 24 columns`);
  }
  if (panel.datasource?.uid !== datasourceUid) {
    fail(
      `${name}: datasource uid ${panel.datasource?.uid} is not the provisioned ${datasourceUid}`,
    );
  }
  if (!panel.targets?.length) fail(`${name}: no queries`);
  for (const target of panel.targets ?? []) {
    if (!target.refId || !target.expr) fail(`${name}: a query lacks refId or expr`);
    else exprs.push(target.expr);
  }
}

// Exported names: the shared MetricName enum, plus prom-client's process metrics.
const known = new Set(Object.values(MetricName));
const base = (name) => name.replace(/_(bucket|sum|count)$/, '');
const used = new Set(
  exprs.flatMap((e) => e.match(/\b(imagerec|process|nodejs)_[a-z0-9_]+/g) ?? []),
);
for (const name of used) {
  if (name.startsWith('imagerec_') && !known.has(name) && !known.has(base(name))) {
    fail(`queries ${name}, which no service exports`);
  }
}
const required = [
  MetricName.QueueJobs,
  MetricName.ImagesClassified,
  `${MetricName.HttpRequestDuration}_bucket`,
  `${MetricName.BatchSize}_sum`,
  'process_cpu_seconds_total',
];
for (const name of required) if (!used.has(name)) fail(`no panel shows ${name}`);
if (!exprs.some((e) => e.includes('histogram_quantile(0.5,'))) fail('no p50 panel');
if (!exprs.some((e) => e.includes('histogram_quantile(0.99,'))) fail('no p99 panel');

const rules = {
  groups: [
    {
      name: 'dashboard-queries',
      rules: exprs.map((expr, i) => ({
        record: `dashboard:query_${i + 1}`,
        expr: expr.replaceAll(/\$__(rate_interval|interval|range)/g, '5m'),
      })),
    },
  ],
};
writeFileSync(rulesOut, JSON.stringify(rules, null, 2));

if (problems.length) {
  for (const p of problems) console.error(`${dashboardFile}: ${p}`);
  process.exit(1);
}
console.log(
  `${dashboardFile}: ${dashboard.panels.length} panels, ${exprs.length} queries, metrics known`,
);
