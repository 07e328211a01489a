import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Where a subscriber's URL may lead. A subscription's URL is a client's say-so: without a check,
 * anyone allowed to subscribe could make the worker call a database, a cloud metadata endpoint or
 * an admin page inside the network (server-side request forgery). So, unless
 * WEBHOOK_ALLOW_PRIVATE_URLS is on, only public unicast addresses are allowed: a literal address
 * is judged when the subscription is written and again before each delivery, and a host name is
 * judged on every address it resolves to, at connection time (a name that resolved to a public
 * address when subscribed may resolve to a private one later). ipaddr.js knows the reserved
 * ranges of both families, IPv4-mapped IPv6 included, which a hand-written list would miss.
 */

/** True when `address` is a public unicast address (not loopback, private, link-local, …). */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  return ipaddr.process(address).range() === 'unicast';
}

/** The URL's host without IPv6 brackets. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

/**
 * What is wrong with `raw` as a subscriber URL (a sentence naming `url`), or undefined when it
 * may be subscribed. A host name passes here; its addresses are judged when delivering.
 */
export function subscriberUrlProblem(raw: string, allowPrivate: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'url must be an absolute http or https URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return 'url must use http or https';
  }
  // Credentials in the URL would be stored and shown back in every listing.
  if (url.username || url.password) return 'url must not carry a user name or password';
  if (allowPrivate) return undefined;
  const host = hostOf(url).toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) {
    return 'url must not point at a loopback address';
  }
  if (ipaddr.isValid(host) && !isPublicAddress(host)) {
    return 'url must not point at a private, loopback or link-local address';
  }
  return undefined;
}

/** A connection refused because its host resolved to an address subscribers may not reach. */
export class PrivateAddressError extends Error {
  readonly code = 'EPRIVATEADDRESS';
  constructor(host: string, address: string) {
    super(`${host} resolves to ${address}, which subscribers may not reach`);
    this.name = new.target.name;
  }
}

/**
 * dns.lookup for the delivery agent: refuses the connection when any address the host resolves
 * to is not public, so the check and the connection use the same answer (no second lookup that
 * a rebinding name could answer differently).
 */
export const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
    if (err) {
      callback(err, '', 0);
      return;
    }
    const refused = addresses.find((a) => !isPublicAddress(a.address));
    if (refused) {
      callback(new PrivateAddressError(hostname, refused.address), '', 0);
      return;
    }
    if (options.all) {
      // The overload Node picks with `all` takes the list; the declared type names one address.
      (callback as unknown as (e: null, list: LookupAddress[]) => void)(null, addresses);
      return;
    }
    const [first] = addresses;
    if (!first) {
      callback(
        Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }),
        '',
        0,
      );
      return;
    }
    callback(null, first.address, first.family);
  });
};
