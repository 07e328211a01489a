import { THROUGHPUT_STATUSES, type Throughput } from '../../db/order-activity.js';
import { formatDurationMs } from '../../lib/domain/relative-time.js';
import type { GaugeReading } from '../../lib/platform/metrics.js';
import { ADMIN_PATH } from '../admin.js';
import type { DeadLetterSample, FailedJobSample, GroupView } from '../failure-groups.js';
import type { Figure, Overview } from './console.js';
import { esc } from './html.js';

/**
 * The overview page of the ops console: server-rendered HTML and inline SVG, no framework and no
 * third-party script. Its one script (CONSOLE_SCRIPT, served same-origin at /admin/console.js, so
 * the app's CSP holds) confirms and sends the group actions; the browser's Basic credentials go
 * with them. Everything shown passes through esc.
 */

/** The figure's body, or the reason it is missing. */
function shown<T>(f: Figure<T>, render: (v: T) => string): string {
  return f.ok ? render(f.value) : `<p class="missing">${esc(f.reason)}</p>`;
}

const seconds = (s: number) => (s > 0 ? formatDurationMs(s * 1000) : '0');
const time = (iso: string) =>
  `<time datetime="${esc(iso)}" title="${esc(iso)}">${esc(iso.slice(0, 19).replace('T', ' '))}</time>`;

function table(headers: string[], rows: string[][], empty = 'none', cls = ''): string {
  if (rows.length === 0) return `<p class="none">${esc(empty)}</p>`;
  const head = headers.map((h) => `<th>${esc(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('');
  return `<div class="scroll"><table class="${esc(cls)}"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
}

const STATUS_COLOURS: Record<string, string> = {
  new: '#6b7fd7',
  paid: '#d7a96b',
  shipped: '#4caf7d',
  cancelled: '#c0504d',
};
const colourOf = (status: string) => STATUS_COLOURS[status] ?? '#888';

/** Horizontal bars, one per row, scaled to the largest; the count is written beside each. */
export function barChart(title: string, rows: { label: string; value: number }[]): string {
  const max = Math.max(1, ...rows.map((r) => r.value));
  const rowH = 22;
  const labelW = 90;
  const barW = 220;
  const height = Math.max(1, rows.length) * rowH;
  const bars = rows
    .map((r, i) => {
      const w = Math.round((r.value / max) * barW);
      const y = i * rowH;
      return (
        `<g class="bar"><title>${esc(`${r.label}: ${r.value}`)}</title>` +
        `<text x="0" y="${y + 15}">${esc(r.label)}</text>` +
        `<rect x="${labelW}" y="${y + 4}" width="${w}" height="${rowH - 8}" fill="${colourOf(r.label)}"></rect>` +
        `<text x="${labelW + w + 6}" y="${y + 15}">${esc(r.value)}</text></g>`
      );
    })
    .join('');
  return (
    `<figure><figcaption>${esc(title)}</figcaption>` +
    `<svg class="bars" role="img" aria-label="${esc(title)}" viewBox="0 0 ${labelW + barW + 60} ${height}" width="100%">` +
    `${rows.length ? bars : '<text x="0" y="15">no orders</text>'}</svg></figure>`
  );
}

/** One polyline per status over the window's minutes, on a shared scale. */
export function sparkline(t: Throughput): string {
  const w = 600;
  const h = 80;
  const max = Math.max(1, ...THROUGHPUT_STATUSES.flatMap((s) => t.perMinute[s]));
  const x = (i: number) => (t.minutes <= 1 ? 0 : (i / (t.minutes - 1)) * w);
  const y = (v: number) => h - 2 - (v / max) * (h - 4);
  const lines = THROUGHPUT_STATUSES.map((s) => {
    const points = t.perMinute[s].map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    return `<polyline class="line-${esc(s)}" fill="none" stroke="${colourOf(s)}" stroke-width="2" vector-effect="non-scaling-stroke" points="${points}"><title>${esc(s)}</title></polyline>`;
  }).join('');
  const legend = THROUGHPUT_STATUSES.map((s) => {
    const series = t.perMinute[s];
    const total = series.reduce((a, b) => a + b, 0);
    const label = s === 'new' ? 'created' : s;
    return `<li><span class="swatch" style="background:${colourOf(s)}"></span>${esc(label)}: <b>${esc(total)}</b> in the hour, ${esc(series.at(-1) ?? 0)} this minute, peak ${esc(Math.max(...series))}/min</li>`;
  }).join('');
  const from = new Date(t.fromMinute).toISOString().slice(11, 16);
  return (
    `<svg class="spark" role="img" aria-label="orders created, paid and shipped per minute" viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" width="100%" height="${h}">` +
    `<line x1="0" y1="${h - 1}" x2="${w}" y2="${h - 1}" stroke="#ccc"></line>${lines}</svg>` +
    `<p class="axis"><span>${esc(from)} UTC</span><span>max ${esc(max)}/min</span><span>now</span></p>` +
    `<ul class="legend">${legend}</ul>` +
    (t.capped
      ? '<p class="missing">more status changes than one reading covers: early minutes read low</p>'
      : '')
  );
}

function gaugeTable(readings: GaugeReading[], label: string, format: (v: number) => string) {
  return table(
    [label, 'value'],
    readings.map((r) => [esc(Object.values(r.labels).join(' ')), esc(format(r.value))]),
  );
}

function queueTable(readings: GaugeReading[]): string {
  const queues = [...new Set(readings.map((r) => r.labels.queue ?? ''))].sort();
  const states = ['waiting', 'active', 'delayed', 'failed'];
  const value = (q: string, s: string) =>
    readings.find((r) => r.labels.queue === q && r.labels.state === s)?.value ?? 0;
  return table(
    ['queue', ...states],
    queues.map((q) => [esc(q), ...states.map((s) => esc(value(q, s)))]),
  );
}

const jobLink = (boardPath: string, s: FailedJobSample) =>
  `<a href="${esc(`${boardPath}/queue/${encodeURIComponent(s.queue)}/${encodeURIComponent(s.job_id)}`)}">${esc(s.job_id)}</a>`;
const orderLink = (id: string | null) =>
  id ? `<a href="${esc(`${ADMIN_PATH}/orders/${encodeURIComponent(id)}`)}">${esc(id)}</a>` : '';

function actionForm(path: string, verb: string, g: GroupView<unknown>): string {
  return (
    `<form class="group-action" method="post" action="${esc(path)}" data-group="${esc(g.key)}" ` +
    `data-count="${esc(g.count)}" data-cause="${esc(g.cause)}" data-verb="${esc(verb)}">` +
    `<button type="submit">${esc(verb)} ${esc(g.count)}</button><output></output></form>`
  );
}

/** What tells failed jobs' groups from dead letters' groups on the page. */
interface GroupKind<S> {
  sourcesHeader: string;
  sample: (s: S) => string;
  actionPath: string;
  verb: string;
  empty: string;
}

/** One table for both kinds, so their columns stay in step (the .groups style counts on them). */
function groupTable<S>(kind: GroupKind<S>, groups: GroupView<S>[]): string {
  return table(
    ['cause', 'count', kind.sourcesHeader, 'first seen', 'last seen', 'sample', ''],
    groups.map((g) => [
      `<code class="cause">${esc(g.cause)}</code>`,
      esc(g.count),
      esc(g.sources.join(', ')),
      time(g.first_seen),
      time(g.last_seen),
      kind.sample(g.sample),
      actionForm(kind.actionPath, kind.verb, g),
    ]),
    kind.empty,
    'groups',
  );
}

const jobGroups = (boardPath: string): GroupKind<FailedJobSample> => ({
  sourcesHeader: 'queues',
  sample: (s) =>
    `${jobLink(boardPath, s)} ${orderLink(s.order_id)}<br><small>${esc(s.failed_reason)}</small>`,
  actionPath: `${ADMIN_PATH}/failures/jobs/retry`,
  verb: 'Retry',
  empty: 'no failed jobs',
});

const LETTER_GROUPS: GroupKind<DeadLetterSample> = {
  sourcesHeader: 'topics',
  sample: (s) =>
    `#${esc(s.id)} ${esc(s.topic)}/${esc(s.partition)}@${esc(s.offset)}<br><small>${esc(s.reason)}</small>`,
  actionPath: `${ADMIN_PATH}/failures/dead-letters/replay`,
  verb: 'Replay',
  empty: 'no dead letters',
};

const STYLE = `
*{box-sizing:border-box}body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#24303f;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.4rem 1.2rem;align-items:baseline}
header a{color:#cfe0ff}header h1{font-size:1.1rem;margin:0 1rem 0 0}
main{padding:1rem;display:grid;gap:1rem;grid-template-columns:repeat(auto-fit,minmax(min(100%,380px),1fr))}
section{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:.8rem 1rem;min-width:0}
section.wide{grid-column:1/-1}h2{font-size:1rem;margin:0 0 .5rem}
.metric{color:#667;font-size:.8rem;font-family:monospace}.big{font-size:1.6rem;font-weight:600}
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;font-size:.9rem}
td,th{border-bottom:1px solid #e5e7eb;padding:.3rem .4rem;text-align:left;vertical-align:top}
.missing{color:#a60}.none{color:#777}.cause{white-space:pre-wrap;overflow-wrap:anywhere}
.groups td:first-child{min-width:14rem}.groups td:nth-child(6){min-width:16rem;overflow-wrap:anywhere}
figure{margin:0 0 .5rem}figcaption{font-size:.85rem;color:#555}.bars text{font-size:12px}
.axis{display:flex;justify-content:space-between;font-size:.75rem;color:#777;margin:.1rem 0}
.legend{list-style:none;padding:0;margin:.3rem 0;font-size:.85rem}.swatch{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle}
.charts{display:grid;gap:.5rem;grid-template-columns:repeat(auto-fit,minmax(220px,1fr))}
button{padding:.3rem .7rem;cursor:pointer}output{display:block;font-size:.8rem;margin-top:.2rem}
@media (max-width:600px){main{padding:.5rem}td,th{padding:.25rem}.big{font-size:1.3rem}}
`;

export function overviewHtml(o: Overview, boardPath: string): string {
  const statusRows =
    (pick: 'lastHour' | 'lastDay') =>
    (v: Extract<Overview['orders_by_status'], { ok: true }>['value']) =>
      v.map((s) => ({ label: s.status, value: s[pick] }));
  const byStatus = shown(
    o.orders_by_status,
    (v) =>
      `<div class="charts">${barChart('created in the last hour, by status now', statusRows('lastHour')(v))}` +
      `${barChart('created in the last 24 h, by status now', statusRows('lastDay')(v))}</div>`,
  );
  const lagTotal = (p: { lag: number }[]) => p.reduce((n, x) => n + x.lag, 0);
  const waitingTotal = (r: GaugeReading[]) => r.reduce((n, x) => n + x.value, 0);
  const failedTotal = (r: GaugeReading[]) =>
    r.filter((x) => x.labels.state === 'failed').reduce((n, x) => n + x.value, 0);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Order Service: ops console</title><style>${STYLE}</style>
<script src="${esc(`${ADMIN_PATH}/console.js`)}" defer></script></head><body>
<header><h1>Order Service ops console</h1>
<a href="${esc(boardPath)}">Queues (Bull Board)</a>
<a href="${esc(`${ADMIN_PATH}/orders/waiting`)}">Orders waiting (JSON)</a>
<a href="${esc(`${ADMIN_PATH}/dead-letters`)}">Dead letters (JSON)</a>
<a href="${esc(`${ADMIN_PATH}/failures`)}">Failure groups (JSON)</a>
<small>as of ${time(o.generated_at)}</small></header>
<main>
<section id="orders-by-status"><h2>Orders by status</h2>${byStatus}</section>
<section id="throughput"><h2>Throughput per minute, last hour</h2>${shown(o.throughput, sparkline)}</section>
<section id="outbox"><h2>Outbox</h2>
<p>Oldest row not yet handed to BullMQ: <span class="big" id="outbox-lag">${shown(o.outbox_lag_seconds, (r) => esc(seconds(r[0]?.value ?? 0)))}</span> <span class="metric">outbox_lag_seconds</span></p>
<p>Oldest open row, by queue <span class="metric">outbox_oldest_open_seconds</span></p>
${shown(o.outbox_oldest_open_seconds, (r) => gaugeTable(r, 'queue', seconds))}
<p>Jobs by queue and state <span class="metric">queue_jobs</span></p>
${shown(o.queue_jobs, queueTable)}</section>
<section id="consumer-lag"><h2>Consumer lag</h2>
${shown(
  o.consumer_lag,
  (p) =>
    `<p><span class="big">${esc(lagTotal(p))}</span> messages behind <span class="metric">kafka_consumer_lag</span></p>${table(
      ['topic', 'partition', 'lag'],
      [...p]
        .sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition)
        .map((x) => [esc(x.topic), esc(x.partition), esc(x.lag)]),
    )}`,
)}
</section>
<section id="waiting" class="wide"><h2>Orders waiting too long for Shipping (over ${esc(formatDurationMs(o.shipping_answer_alert_after_ms))})</h2>
${shown(o.orders_waiting_too_long, (r) => `<p><span class="big" id="waiting-count">${esc(waitingTotal(r))}</span> ${esc(r.map((x) => `${x.labels.status}: ${x.value}`).join(', '))} <span class="metric">orders_waiting_too_long</span></p>`)}
${shown(o.waiting_orders, (rows) =>
  table(
    ['order', 'waiting for', 'since', 'waited'],
    rows.map((w) => [
      orderLink(w.id),
      esc(w.waitingFor),
      time(w.since.toISOString()),
      esc(formatDurationMs(w.waitedMs)),
    ]),
    'no order waits too long',
  ),
)}
</section>
<section id="failed-jobs" class="wide"><h2>Failed jobs, grouped by cause</h2>
${shown(o.queue_jobs, (r) => `<p><span class="big" id="failed-count">${esc(failedTotal(r))}</span> failed jobs in all queues <span class="metric">queue_jobs{state="failed"}</span></p>`)}
${shown(o.failed_job_groups, (g) => `${g.truncated ? `<p class="missing">more failed jobs than one reading covers: the groups hold the newest ${esc(g.read)}</p>` : ''}${groupTable(jobGroups(boardPath), g.groups)}`)}
</section>
<section id="dead-letters" class="wide"><h2>Dead letters, grouped by cause</h2>
${shown(o.dead_letters, (r) => `<p><span class="big" id="dead-letter-count">${esc(r[0]?.value ?? 0)}</span> not replayed <span class="metric">dead_letters</span></p>`)}
${shown(o.dead_letter_groups, (g) => groupTable(LETTER_GROUPS, g.groups))}
</section>
</main></body></html>`;
}

/**
 * The page's one script: a group action is confirmed (the count the admin sees goes with it, and
 * the server refuses it if the group has changed), sent as JSON to the same origin, and its answer
 * written beside the button. Plain ES2020, served as a file: the CSP allows no inline script.
 */
export const CONSOLE_SCRIPT = `'use strict';
document.addEventListener('submit', async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.classList.contains('group-action')) return;
  event.preventDefault();
  const { group, count, cause, verb } = form.dataset;
  const out = form.querySelector('output');
  if (!window.confirm(verb + ' all ' + count + ' failures of this cause?\\n\\n' + cause)) return;
  const button = form.querySelector('button');
  button.disabled = true;
  out.textContent = 'working…';
  try {
    const res = await fetch(form.action, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ group, count: Number(count) }),
    });
    const body = await res.json().catch(() => ({}));
    if (res.ok) {
      const d = body.data;
      const done = d.retried ?? d.replayed;
      out.textContent = verb === 'Retry'
        ? 'retried ' + done + ' of ' + d.confirmed + (d.skipped ? ' (' + d.skipped + ' no longer failed)' : '')
        : 'replayed ' + done + ' of ' + d.confirmed + (d.refused.length ? ' (' + d.refused.length + ' still refused)' : '');
      out.className = 'done';
    } else {
      const wait = res.headers.get('retry-after');
      out.textContent = (body.errors && body.errors[0] && body.errors[0].message) || 'HTTP ' + res.status;
      if (wait) out.textContent += ' (retry after ' + wait + ' s)';
      out.className = 'refused';
      button.disabled = false;
    }
  } catch (err) {
    out.textContent = 'not sent: ' + err.message;
    button.disabled = false;
  }
});
`;
