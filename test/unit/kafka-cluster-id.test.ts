import { expect } from 'chai';
import { newClusterId } from '../../scripts/kafka/cluster.js';

describe('the Kafka launcher’s cluster ids', () => {
  it('when thousands are made, then none starts with "-" (the storage tool would take it for an option) and each is 16 bytes of base64url', () => {
    // With one id in 64 starting with '-', 2000 ids all passing by chance is ~e^-31.
    const ids = Array.from({ length: 2000 }, newClusterId);

    expect(ids.filter((id) => id.startsWith('-'))).to.deep.equal([]);
    for (const id of ids.slice(0, 50)) {
      expect(id).to.match(/^[A-Za-z0-9_-]{22}$/);
      expect(Buffer.from(id, 'base64url')).to.have.length(16);
    }
  });
});
