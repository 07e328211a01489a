import { formatDurationMs, formatRelativeMs } from '../../lib/domain/relative-time.js';
import { esc } from './html.js';
import type { Journey } from './journey.js';

/**
 * An order's journey as a picture: its life on one time axis, from its creation. A lane per outbox
 * row (created → handed to BullMQ → completed or failed, each attempt marked, its error on hover),
 * a lane per inbox event (received → applied), dead letters, and the status changes drawn across
 * every lane. The axis is logarithmic from the order's creation: a 6 ms hop and a 3 h wait for
 * Shipping both stay readable. Times are shown relative to the creation (`+2.1 s`). Inline SVG,
 * no script; every text goes through esc.
 */

const WIDTH = 1000;
const LABEL_W = 250;
const TRACK_W = WIDTH - LABEL_W - 20;
const LANE_H = 28;
const AXIS_H = 30;
/** The axis starts at this offset, so events in the first millisecond are not stacked at 0. */
const FLOOR_MS = 1;

const ms = (iso: string | null | undefined, origin: number) =>
  iso ? Date.parse(iso) - origin : undefined;

/** Where on the track an offset falls: log10 between FLOOR_MS and the journey's span. */
export function axisX(offsetMs: number, spanMs: number): number {
  const lo = Math.log10(FLOOR_MS);
  const hi = Math.log10(Math.max(spanMs, 10));
  const v = Math.log10(Math.max(offsetMs, FLOOR_MS));
  return LABEL_W + ((v - lo) / (hi - lo)) * TRACK_W;
}

/** Tick offsets 1 ms, 10 ms, … and the round minutes, hours and days up to the span. */
function ticks(spanMs: number): number[] {
  const all = [
    10,
    100,
    1000,
    10_000,
    60_000,
    600_000,
    3_600_000,
    6 * 3_600_000,
    86_400_000,
    7 * 86_400_000,
  ];
  return all.filter((t) => t <= spanMs);
}

interface Mark {
  at: number;
  cls: string;
  title: string;
}

interface Lane {
  label: string;
  cls: string;
  /** A bar from…to, drawn under the marks. */
  spans: { from: number; to: number; cls: string; title: string }[];
  marks: Mark[];
}

function lanes(j: Journey, origin: number, now: number): Lane[] {
  const rel = (t: number) => formatRelativeMs(t);
  const out: Lane[] = [];
  for (const r of j.outbox) {
    const created = ms(r.created_at, origin) ?? 0;
    const dispatched = ms(r.dispatched_at, origin);
    const completed = ms(r.completed_at, origin);
    const failed = ms(r.failed_at, origin);
    const end = completed ?? failed;
    const spans: Lane['spans'] = [];
    if (dispatched !== undefined) {
      spans.push({
        from: created,
        to: dispatched,
        cls: 'relay',
        title: `written ${rel(created)}, handed to BullMQ ${rel(dispatched)} (${formatDurationMs(dispatched - created)})`,
      });
      const stateNow = completed !== undefined ? 'done' : failed !== undefined ? 'failed' : 'open';
      spans.push({
        from: dispatched,
        to: end ?? now - origin,
        cls: `run ${stateNow}`,
        title:
          stateNow === 'open'
            ? `open since ${rel(dispatched)} (job ${r.job.state})`
            : `${stateNow} ${rel(end!)} after ${r.attempts} attempt(s)`,
      });
    } else if (completed !== undefined) {
      // A payment check whose order left `new` before it fell due: completed, never a job.
      spans.push({
        from: created,
        to: completed,
        cls: 'run done',
        title: `written ${rel(created)}, completed ${rel(completed)} before it was due: never a job`,
      });
    } else {
      spans.push({
        from: created,
        to: failed ?? now - origin,
        cls: failed !== undefined ? 'run failed' : 'relay',
        title: `written ${rel(created)}, not handed to BullMQ${failed !== undefined ? `; failed ${rel(failed)}` : ' yet'}`,
      });
    }
    const marks: Mark[] = [
      {
        at: created,
        cls: 'written',
        title: `outbox row written ${rel(created)} (${r.created_at})`,
      },
      ...r.failed_attempts.map((a) => ({
        at: ms(a.at, origin) ?? created,
        cls: 'attempt failed',
        title: `attempt ${a.attempt} failed ${rel(ms(a.at, origin) ?? created)}: ${a.error}`,
      })),
    ];
    if (completed !== undefined && dispatched === undefined) {
      marks.push({
        at: completed,
        cls: 'attempt ok',
        title: `completed ${rel(completed)} without a job: its order left \`new\` before it was due`,
      });
    } else if (completed !== undefined) {
      marks.push({
        at: completed,
        cls: 'attempt ok',
        title: `attempt ${r.attempts} completed ${rel(completed)} (${r.completed_at})`,
      });
    } else if (failed !== undefined) {
      marks.push({
        at: failed,
        cls: 'gave-up',
        title: `failed for good ${rel(failed)}: ${r.last_error ?? ''}`,
      });
    }
    const hop = r.queue === 'shipping' ? ' → Kafka' : '';
    out.push({ label: `${r.queue}${hop} · ${r.event}`, cls: 'outbox', spans, marks });
  }
  for (const r of j.inbox) {
    const received = ms(r.received_at, origin) ?? 0;
    const processed = ms(r.processed_at, origin);
    const hop = r.source === 'shipping' ? 'Kafka → ' : '';
    out.push({
      label: `${hop}inbox · ${r.source} ${r.event}`,
      cls: 'inbox',
      spans: [
        {
          from: received,
          to: processed ?? now - origin,
          cls: processed !== undefined ? 'run done' : 'run open',
          title:
            processed !== undefined
              ? `received ${rel(received)}, applied ${rel(processed)}: ${r.outcome ?? ''}`
              : `received ${rel(received)}, not applied yet`,
        },
      ],
      marks: [
        { at: received, cls: 'written', title: `received ${rel(received)} (${r.received_at})` },
        ...(processed !== undefined
          ? [
              {
                at: processed,
                cls: 'attempt ok',
                title: `applied ${rel(processed)}: ${r.outcome ?? ''}`,
              },
            ]
          : []),
      ],
    });
  }
  for (const d of j.dead_letters) {
    const at = ms(d.created_at, origin) ?? 0;
    out.push({
      label: `dead letter · ${d.topic}`,
      cls: 'dead-letter',
      spans: [],
      marks: [{ at, cls: 'gave-up', title: `dead-lettered ${rel(at)}: ${d.reason}` }],
    });
  }
  return out;
}

export function waterfallHtml(
  j: Journey,
  { traceUrlTemplate, now = Date.now() }: { traceUrlTemplate?: string; now?: number } = {},
): string {
  const origin = Date.parse(j.order.created_at);
  const all = lanes(j, origin, now);
  const history = (j.order.history ?? []).map((h) => ({
    status: h.status,
    at: ms(h.created_at, origin) ?? 0,
    reason: h.reason,
  }));
  const offsets = [
    ...all.flatMap((l) => [...l.spans.flatMap((s) => [s.from, s.to]), ...l.marks.map((m) => m.at)]),
    ...history.map((h) => h.at),
  ];
  const span = Math.max(10, ...offsets) * 1.05;
  const x = (t: number) => axisX(t, span).toFixed(1);
  const height = AXIS_H + (all.length + 1) * LANE_H;
  const laneY = (i: number) => AXIS_H + (i + 1) * LANE_H;

  const tickLines = ticks(span)
    .map(
      (t) =>
        `<line class="tick" x1="${x(t)}" y1="${AXIS_H - 6}" x2="${x(t)}" y2="${height}"></line>` +
        `<text class="tick-label" x="${x(t)}" y="${AXIS_H - 10}">${esc(formatRelativeMs(t))}</text>`,
    )
    .join('');
  const statusLane =
    `<text class="lane-label" x="4" y="${AXIS_H + 18}">status</text>` +
    history
      .map(
        (h) =>
          `<g class="status-change"><title>${esc(`${h.status} ${formatRelativeMs(h.at)}${h.reason ? `: ${h.reason}` : ''}`)}</title>` +
          `<line x1="${x(h.at)}" y1="${AXIS_H}" x2="${x(h.at)}" y2="${height}"></line>` +
          `<text x="${x(h.at)}" y="${AXIS_H + 18}">${esc(h.status)} ${esc(formatRelativeMs(h.at))}</text></g>`,
      )
      .join('');
  const body = all
    .map((lane, i) => {
      const y = laneY(i);
      const spans = lane.spans
        .map(
          (s) =>
            `<rect class="span ${esc(s.cls)}" x="${x(s.from)}" y="${y + 8}" width="${Math.max(2, Number(x(s.to)) - Number(x(s.from))).toFixed(1)}" height="12"><title>${esc(s.title)}</title></rect>`,
        )
        .join('');
      const marks = lane.marks
        .map(
          (m) =>
            `<circle class="mark ${esc(m.cls)}" cx="${x(m.at)}" cy="${y + 14}" r="6"><title>${esc(m.title)}</title></circle>`,
        )
        .join('');
      return (
        `<g class="lane ${esc(lane.cls)}"><text class="lane-label" x="4" y="${y + 18}">${esc(lane.label)}</text>` +
        `${spans}${marks}</g>`
      );
    })
    .join('');
  // The same marks as a list in time order: readable without hovering (a phone, a screen reader).
  const events = [
    ...history.map((h) => ({
      at: h.at,
      text: `status ${h.status}${h.reason ? `: ${h.reason}` : ''}`,
    })),
    ...all.flatMap((l) => l.marks.map((m) => ({ at: m.at, text: `${l.label}: ${m.title}` }))),
  ].sort((a, b) => a.at - b.at);
  const list = `<details id="waterfall-events"><summary>Every event in time order (${events.length})</summary><ol>${events
    .map((e) => `<li><b>${esc(formatRelativeMs(e.at))}</b> ${esc(e.text)}</li>`)
    .join('')}</ol></details>`;
  const trace =
    traceUrlTemplate && j.trace_id
      ? `<p><a id="trace-link" href="${esc(traceUrlTemplate.replaceAll('{trace_id}', encodeURIComponent(j.trace_id)))}">Open the trace ${esc(j.trace_id)}</a></p>`
      : '';
  return `<section id="waterfall"><h2>Timeline</h2>
<style>#waterfall .scroll{overflow-x:auto}#waterfall svg{min-width:900px;font:12px sans-serif}
#waterfall .tick{stroke:#eee}#waterfall .tick-label{fill:#777;text-anchor:middle;font-size:11px}
#waterfall .status-change line{stroke:#6b7fd7;stroke-dasharray:4 3}#waterfall .status-change text{fill:#34449a}
#waterfall .span.relay{fill:#c9d6ea}#waterfall .span.run.done{fill:#9fd3b1}#waterfall .span.run.open{fill:#e5e7eb}
#waterfall .span.run.failed{fill:#f0b4b4}#waterfall .mark.written{fill:#fff;stroke:#555}
#waterfall .mark.attempt.failed{fill:#c0504d}#waterfall .mark.attempt.ok{fill:#2e8b57}#waterfall .mark.gave-up{fill:#7a0000}</style>
${trace}<p>From the order's creation (${esc(j.order.created_at)}), on a logarithmic axis; hover a mark for its time and error.</p>
<div class="scroll"><svg role="img" aria-label="the order's journey on one time axis" viewBox="0 0 ${WIDTH} ${height}" width="100%">
${tickLines}${statusLane}${body}</svg></div>${list}</section>`;
}
