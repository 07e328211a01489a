import { expect } from 'chai';
import { axisX, waterfallHtml } from '../../api/routes/journey-waterfall.js';
import type { Journey } from '../../api/routes/journey.js';

const t0 = Date.parse('2026-12-07T12:00:00.000Z');
const at = (ms: number) => new Date(t0 + ms).toISOString();

/** A paid order: its payment failed once (with markup in the error), then went through. */
function journey(traceId: string | null = '4bf92f3577b34da6a3ce929d0e0e4736'): Journey {
  return {
    order: {
      id: '0193a000-0000-7000-8000-000000000001',
      status: 'paid',
      created_at: at(0),
      history: [
        { status: 'new', reason: 'order created', created_at: at(0) },
        { status: 'paid', reason: 'payment.succeeded', created_at: at(2100) },
      ],
    },
    trace_id: traceId,
    outbox: [
      {
        id: 1,
        queue: 'payments',
        event: 'payment.requested',
        created_at: at(0),
        dispatched_at: at(6),
        completed_at: at(1500),
        failed_at: null,
        attempts: 2,
        last_error: null,
        failed_attempts: [{ attempt: 1, at: at(40), error: 'payments answered 503: <b>down</b>' }],
        job: { id: 'outbox-x', queue: 'payments', state: 'completed', attempts_made: 2 },
      },
    ],
    inbox: [
      {
        id: 1,
        source: 'payments',
        key: 'k',
        event: 'payment.succeeded',
        received_at: at(2000),
        processed_at: at(2100),
        outcome: 'applied',
      },
    ],
    dead_letters: [],
  } as unknown as Journey;
}

describe('the journey timeline', () => {
  it('when an attempt failed with markup in its error, then the error is escaped on its mark', () => {
    const html = waterfallHtml(journey(), { now: t0 + 3000 });
    expect(html).to.include(
      'attempt 1 failed +40 ms: payments answered 503: &lt;b&gt;down&lt;/b&gt;',
    );
    expect(html).not.to.include('<b>down</b>');
    expect(html).to.include('attempt 2 completed +1.5 s');
  });

  it('when events are listed, then in time order and relative to the creation', () => {
    const html = waterfallHtml(journey(), { now: t0 + 3000 });
    const times = [...html.matchAll(/<li><b>([^<]+)<\/b>/g)].map((m) => m[1]);
    expect(times).to.deep.equal(['+0 ms', '+0 ms', '+40 ms', '+1.5 s', '+2 s', '+2.1 s', '+2.1 s']);
    expect(html.match(/class="status-change"/g)).to.have.length(2);
  });

  it('when a payment check was completed before it fell due, then its lane says it never became a job, not that it waits for the relay', () => {
    const j = journey();
    j.outbox.push({
      ...j.outbox[0]!,
      id: 2,
      queue: 'payment-checks',
      event: 'payment.check',
      created_at: at(1500),
      dispatched_at: null,
      completed_at: at(2100),
      attempts: 0,
      failed_attempts: [],
      job: { id: 'outbox-y', queue: 'payment-checks', state: 'not in Redis', attempts_made: null },
    });
    const html = waterfallHtml(j, { now: t0 + 3000 });
    expect(html).to.include('completed +2.1 s before it was due: never a job');
    expect(html).to.include('completed +2.1 s without a job');
    expect(html).not.to.include('not handed to BullMQ yet');
    expect(html).not.to.include('attempt 0 completed');
  });

  it('when a trace URL template is set and the order has a trace, then the page links to it', () => {
    const html = waterfallHtml(journey(), {
      traceUrlTemplate: 'https://jaeger.example/trace/{trace_id}?a=1&b=2',
    });
    expect(html).to.include(
      'id="trace-link" href="https://jaeger.example/trace/4bf92f3577b34da6a3ce929d0e0e4736?a=1&amp;b=2"',
    );
    expect(
      waterfallHtml(journey(null), { traceUrlTemplate: 'https://j/{trace_id}' }),
    ).not.to.include('trace-link');
    expect(waterfallHtml(journey())).not.to.include('trace-link');
  });

  it('when offsets grow, then the axis places them in order, milliseconds and hours both on it', () => {
    const span = 3 * 3_600_000;
    const xs = [0, 6, 2100, 3_600_000, span].map((ms) => axisX(ms, span));
    expect([...xs].sort((a, b) => a - b)).to.deep.equal(xs);
    expect(xs[1]! - xs[0]!, '6 ms is visibly off the start').to.be.greaterThan(50);
  });
});
