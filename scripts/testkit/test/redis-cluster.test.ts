import { expect } from 'chai';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { startRedisCluster } from '../redis-cluster.js';

/** True when something accepts TCP connections on the port. */
async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('testkit: startRedisCluster', function () {
  this.timeout(60000);

  it('when started, then 3 masters share all 16384 slots with a replica each, a key has its master, and stop leaves no node or file behind', async () => {
    const cluster = await startRedisCluster();
    let dir: string | undefined;
    try {
      const roles = await cluster.roles();
      const masters = roles.filter((r) => r.role === 'master');
      expect(masters).to.have.length(3);
      expect(roles.filter((r) => r.role === 'replica')).to.have.length(3);
      expect(masters.reduce((n, m) => n + m.slots, 0)).to.equal(16384);
      expect(cluster.seeds.split(',')).to.have.length(6);

      const owner = await cluster.masterOf('{t}:k');
      expect(masters.map((m) => m.port)).to.include(owner);
      await cluster.nodeClient(owner).set('{t}:k', 'v');
      expect(await cluster.nodeClient(owner).get('{t}:k')).to.equal('v');
      await cluster.flushAll();
      expect(await cluster.nodeClient(owner).exists('{t}:k')).to.equal(0);
      dir = ((await cluster.nodeClient(owner).config('GET', 'dir')) as string[])[1];
      expect(existsSync(dir!)).to.equal(true);
    } finally {
      await cluster.stop();
    }
    for (const { port } of cluster.nodes)
      expect(await listening(port), String(port)).to.equal(false);
    expect(existsSync(dir!)).to.equal(false);
  });
});
