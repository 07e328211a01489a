import { expect } from 'chai';
import type { LookupAddress } from 'node:dns';
import {
  isPublicAddress,
  PrivateAddressError,
  publicOnlyLookup,
  subscriberUrlProblem,
} from '../../lib/peers/subscriber-address.js';

interface LookupAnswer {
  err: NodeJS.ErrnoException | null;
  address: string | LookupAddress[];
  family?: number;
}

/** publicOnlyLookup's answer, as a promise (it takes a callback, as net's `lookup` does). */
function lookup(hostname: string, all: boolean): Promise<LookupAnswer> {
  return new Promise((resolve) => {
    publicOnlyLookup(hostname, { all }, (err, address, family) =>
      resolve({ err, address, family }),
    );
  });
}

describe('subscriber addresses (lib/peers/subscriber-address.ts)', () => {
  describe('isPublicAddress', () => {
    const notPublic: [string, string][] = [
      ['127.0.0.1', 'IPv4 loopback'],
      ['127.255.255.254', 'the rest of 127/8'],
      ['10.0.0.1', 'RFC 1918 10/8'],
      ['172.16.0.1', 'RFC 1918 172.16/12'],
      ['172.31.255.255', 'the top of 172.16/12'],
      ['192.168.1.1', 'RFC 1918 192.168/16'],
      ['169.254.169.254', 'link-local (cloud metadata)'],
      ['100.64.0.1', 'carrier-grade NAT'],
      ['0.0.0.0', 'unspecified'],
      ['255.255.255.255', 'broadcast'],
      ['224.0.0.1', 'multicast'],
      ['::1', 'IPv6 loopback'],
      ['::', 'IPv6 unspecified'],
      ['fe80::1', 'IPv6 link-local'],
      ['fc00::1', 'IPv6 unique local'],
      ['fd12:3456::1', 'IPv6 unique local (fd)'],
      ['ff02::1', 'IPv6 multicast'],
      ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
      ['::ffff:10.0.0.1', 'IPv4-mapped private'],
      ['::ffff:a9fe:a9fe', 'IPv4-mapped link-local, in hex'],
      ['2001:db8::1', 'IPv6 documentation'],
      ['not-an-address', 'a name'],
      ['', 'nothing'],
    ];
    for (const [address, what] of notPublic) {
      it(`when the address is ${address || '""'} (${what}), then it is not public`, () => {
        expect(isPublicAddress(address)).to.equal(false);
      });
    }

    for (const address of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '2001:4860:4860::8888']) {
      it(`when the address is ${address}, then it is public`, () => {
        expect(isPublicAddress(address)).to.equal(true);
      });
    }

    it('when a public IPv4 address is written IPv4-mapped, then it is public as itself', () => {
      expect(isPublicAddress('::ffff:8.8.8.8')).to.equal(true);
    });
  });

  describe('subscriberUrlProblem', () => {
    const refused: [string, RegExp][] = [
      ['http://127.0.0.1/x', /loopback/],
      ['http://10.0.0.1', /private/],
      ['http://[::1]/', /loopback/],
      ['http://[::ffff:127.0.0.1]/', /private, loopback/],
      ['http://localhost/', /loopback/],
      ['http://LOCALHOST:8080/', /loopback/],
      ['http://api.localhost/', /loopback/],
      ['http://169.254.169.254/latest/meta-data', /link-local/],
      ['https://user:pw@erp.example.com/hook', /user name or password/],
      ['https://user@erp.example.com/hook', /user name or password/],
      ['ftp://erp.example.com/hook', /http or https/],
      ['file:///etc/passwd', /http or https/],
      ['erp.example.com/hook', /absolute/],
      ['https://erp.example.com:99999/', /absolute/],
    ];
    for (const [url, why] of refused) {
      it(`when the URL is ${url}, then it is refused with a message naming url`, () => {
        const problem = subscriberUrlProblem(url, false);
        expect(problem).to.match(/^url /);
        expect(problem).to.match(why);
      });
    }

    it('when the URL is a public https address or a name, then it is taken', () => {
      for (const url of [
        'https://erp.example.com/hooks/orders',
        'http://8.8.8.8:8080/x',
        'https://[2001:4860:4860::8888]/x',
      ]) {
        expect(subscriberUrlProblem(url, false), url).to.equal(undefined);
      }
    });

    it('when private URLs are allowed, then loopback and private addresses are taken but the scheme and credentials rules still hold', () => {
      for (const url of [
        'http://127.0.0.1/x',
        'http://10.0.0.1',
        'http://[::1]/',
        'http://localhost/',
      ]) {
        expect(subscriberUrlProblem(url, true), url).to.equal(undefined);
      }
      expect(subscriberUrlProblem('ftp://127.0.0.1/', true)).to.match(/http or https/);
      expect(subscriberUrlProblem('http://a:b@127.0.0.1/', true)).to.match(/user name/);
    });
  });

  describe('publicOnlyLookup', () => {
    it("when the host is 'localhost', then the connection is refused naming the address", async () => {
      for (const all of [false, true]) {
        const { err } = await lookup('localhost', all);
        expect(err).to.be.instanceOf(PrivateAddressError);
        expect((err as PrivateAddressError).code).to.equal('EPRIVATEADDRESS');
        expect(err!.message).to.match(/^localhost resolves to (127\.|::1)/);
      }
    });

    it('when the host is a private literal address, then it is refused', async () => {
      const { err } = await lookup('10.1.2.3', false);
      expect(err).to.be.instanceOf(PrivateAddressError);
    });

    it('when the host is a public literal address, then it is handed on as one address or a list', async () => {
      const one = await lookup('8.8.8.8', false);
      expect(one).to.deep.equal({ err: null, address: '8.8.8.8', family: 4 });
      const list = await lookup('8.8.8.8', true);
      expect(list.err).to.equal(null);
      expect(list.address).to.deep.equal([{ address: '8.8.8.8', family: 4 }]);
    });
  });
});
