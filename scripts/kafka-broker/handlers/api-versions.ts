/** ApiVersions v0–v2: which APIs and versions this broker serves. */
import type { ApiHandler } from '../handler.js';
import { ApiKey, Encoder, ErrorCode } from '../protocol.js';

export function versionList(handlers: readonly ApiHandler[]): Encoder[] {
  return handlers.map((h) =>
    new Encoder().writeInt16(h.apiKey).writeInt16(h.minVersion).writeInt16(h.maxVersion),
  );
}

/**
 * The answer to a request for an API or version this broker does not serve: ApiVersions v0's
 * layout (error code first, then what is served), which is what Kafka sends to a client that
 * asks for an ApiVersions version it does not know.
 */
export function unsupportedVersionBody(handlers: readonly ApiHandler[]): Encoder {
  return new Encoder().writeInt16(ErrorCode.UNSUPPORTED_VERSION).writeArray(versionList(handlers));
}

export function apiVersionsHandler(handlers: () => readonly ApiHandler[]): ApiHandler {
  return {
    apiKey: ApiKey.ApiVersions,
    name: 'ApiVersions',
    minVersion: 0,
    maxVersion: 2,
    handle(_request, { header }) {
      const body = new Encoder().writeInt16(ErrorCode.NONE).writeArray(versionList(handlers()));
      if (header.apiVersion >= 1) body.writeInt32(0); // throttle_time_ms
      return body;
    },
  };
}
