import type { Journey } from './journey.js';
import { waterfallHtml } from './journey-waterfall.js';

/** The journey as one small server-rendered page: no script, so the app's strict CSP holds. */
const esc = (v: unknown) =>
  String(v ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

function table(headers: string[], rows: string[][]): string {
  const head = headers.map((h) => `<th>${esc(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('');
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

export function journeyHtml(
  j: Journey,
  boardPath: string,
  options: { traceUrlTemplate?: string } = {},
): string {
  const o = j.order;
  const history = table(
    ['status', 'reason', 'at'],
    (o.history ?? []).map((h) => [esc(h.status), esc(h.reason), esc(h.created_at)]),
  );
  const outbox = table(
    ['queue', 'event', 'created', 'dispatched', 'completed', 'failed', 'attempts', 'errors', 'job'],
    j.outbox.map((r) => [
      esc(r.queue),
      esc(r.event),
      esc(r.created_at),
      esc(r.dispatched_at),
      esc(r.completed_at),
      esc(r.failed_at),
      esc(r.attempts),
      `<ol class="errors">${r.failed_attempts
        .map((e) => `<li>attempt ${esc(e.attempt)} at ${esc(e.at)}: ${esc(e.error)}</li>`)
        .join('')}</ol>`,
      `<a href="${esc(`${boardPath}/queue/${encodeURIComponent(r.job.queue)}/${encodeURIComponent(r.job.id)}`)}">${esc(r.job.state)}</a>`,
    ]),
  );
  const inbox = table(
    ['source', 'key', 'event', 'received', 'processed', 'outcome'],
    j.inbox.map((r) => [
      esc(r.source),
      esc(r.key),
      esc(r.event),
      esc(r.received_at),
      esc(r.processed_at),
      esc(r.outcome),
    ]),
  );
  const letters = table(
    ['topic', 'partition', 'offset', 'reason', 'at'],
    j.dead_letters.map((d) => [
      esc(d.topic),
      esc(d.partition),
      esc(d.offset),
      esc(d.reason),
      esc(d.created_at),
    ]),
  );
  const deliveries = table(
    [
      'at',
      'subscription',
      'event',
      'attempt',
      'outcome',
      'status',
      'latency ms',
      'answer',
      'error',
    ],
    j.webhook_deliveries.map((d) => [
      esc(d.at),
      `<code>${esc(d.subscription_id)}</code>`,
      esc(d.event),
      esc(d.attempt),
      esc(d.outcome),
      esc(d.status_code),
      esc(d.latency_ms),
      `<code>${esc(d.response_excerpt)}</code>`,
      esc(d.error),
    ]),
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>Order ${esc(o.id)}</title>
<style>body{font-family:sans-serif;margin:1.5rem}table{border-collapse:collapse;margin-bottom:1.5rem}
td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
.errors{margin:0;padding-left:1.2rem;color:#a00}</style></head><body>
<p><a href="waiting" id="waiting-orders">Orders waiting too long for Shipping</a></p>
<h1>Order <code>${esc(o.id)}</code>: ${esc(o.status)}</h1>
<p>Amount ${esc(o.amount)}, user ${esc(o.user_id)}, trace id <code id="trace-id">${esc(j.trace_id ?? 'none')}</code></p>
${waterfallHtml(j, options)}
<h2>Status history</h2>${history}
<h2>Outbox</h2>${outbox}
<h2>Inbox</h2>${inbox}
<h2>Dead letters</h2>${j.dead_letters.length ? letters : '<p>none</p>'}
<h2>Webhook deliveries</h2>${j.webhook_deliveries.length ? deliveries : '<p>none</p>'}
</body></html>`;
}
