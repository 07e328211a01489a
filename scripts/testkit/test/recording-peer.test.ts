import { expect } from 'chai';
import { startRecordingPeer, type RecordedRequest, type RecordingPeer } from '../recording-peer.js';

describe('testkit: recording peer', () => {
  let peer: RecordingPeer;
  const seen: RecordedRequest[] = [];

  beforeEach(async () => {
    seen.length = 0;
    peer = await startRecordingPeer([{ status: 503, times: 1 }, { status: 204 }], {
      onRequest: (r) => seen.push(r),
    });
  });
  afterEach(() => peer.close());

  const post = (body: string) =>
    fetch(peer.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

  it('when a request arrives, then its exact text and the status it was answered are kept, and it is shown as it arrives', async () => {
    // Spacing JSON.parse would drop: a signature covers these bytes.
    const sent = '{ "a" : 1 }';

    const first = await post(sent);
    const second = await post(sent);

    expect([first.status, second.status]).to.deep.equal([503, 204]);
    expect(peer.requests.map((r) => [r.raw, r.status, r.body])).to.deep.equal([
      [sent, 503, { a: 1 }],
      [sent, 204, { a: 1 }],
    ]);
    expect(seen).to.deep.equal(peer.requests);
  });

  it('when it refuses connections, then a request fails to connect, and once it accepts them again the same URL answers', async () => {
    await peer.refuseConnections();
    const refused = await post('{}').then(
      () => 'answered',
      (err: Error & { cause?: { code?: string } }) => err.cause?.code,
    );
    await peer.acceptConnections();
    const answered = await post('{}');

    expect(refused).to.equal('ECONNREFUSED');
    expect(answered.status).to.equal(503);
    expect(peer.requests).to.have.length(1);
  });

  it('when it is closed after refusing connections, then closing does not fail', async () => {
    await peer.refuseConnections();

    await peer.close();
  });
});
