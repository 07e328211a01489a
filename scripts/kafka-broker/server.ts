/**
 * The TCP side: size-prefixed frames in, the request header read, the request dispatched by API
 * key, the answer framed back under the request's correlation id.
 *
 * Requests on one connection are served in the order they arrive, except that those that wait
 * (Fetch, JoinGroup, SyncGroup) do not hold back the ones behind them. Kafka itself serves one
 * request per connection at a time; kafkajs matches answers by correlation id and does not need
 * that, and letting a heartbeat pass a parked JoinGroup keeps sessions alive during rebalances.
 * A request for an API or version not served gets UNSUPPORTED_VERSION; one that cannot be parsed
 * closes the connection, as Kafka does.
 */
import net from 'node:net';
import type { Logger } from '../../lib/platform/logger.js';
import { unsupportedVersionBody } from './handlers/api-versions.js';
import type { ApiHandler, BrokerStats, RequestHeader } from './handler.js';
import { Decoder, type Encoder } from './protocol.js';

/** Kafka's socket.request.max.bytes: a bigger size prefix is a broken or hostile client. */
const MAX_FRAME_BYTES = 100 * 1024 * 1024;
const SIZE_PREFIX = 4;

export interface ServerOptions {
  host: string;
  port: number;
  handlers: ReadonlyMap<number, ApiHandler>;
  stats: BrokerStats;
  logger: Logger;
}

export interface ListeningServer {
  host: string;
  port: number;
  /** Closes every connection (waiting requests are dropped) and stops listening. */
  close(): Promise<void>;
}

/** Collects TCP chunks and cuts them into whole frames. */
class FrameReader {
  private chunks: Buffer[] = [];
  private length = 0;

  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.length += chunk.length;
    const frames: Buffer[] = [];
    while (this.length >= SIZE_PREFIX) {
      const size = this.peekSize();
      if (size < 0 || size > MAX_FRAME_BYTES) throw new Error(`invalid frame size ${size}`);
      if (this.length < SIZE_PREFIX + size) break;
      frames.push(this.take(SIZE_PREFIX + size).subarray(SIZE_PREFIX));
    }
    return frames;
  }

  private peekSize(): number {
    if (this.chunks[0]!.length < SIZE_PREFIX) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!.readInt32BE(0);
  }

  private take(bytes: number): Buffer {
    if (this.chunks[0]!.length < bytes) this.chunks = [Buffer.concat(this.chunks)];
    const first = this.chunks[0]!;
    const taken = first.subarray(0, bytes);
    if (first.length === bytes) this.chunks.shift();
    else this.chunks[0] = first.subarray(bytes);
    this.length -= bytes;
    return taken;
  }
}

class Connection {
  private readonly frames = new FrameReader();
  private readonly closed = new AbortController();
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly socket: net.Socket,
    private readonly options: ServerOptions,
    private readonly logger: Logger,
  ) {
    // Answers are small and latency matters more than packet count.
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    socket.on('error', (err) => {
      logger.debug({ err }, 'Connection error; closing it');
      socket.destroy();
    });
    socket.on('close', () => {
      this.closed.abort();
      options.stats.connections--;
      logger.debug('Connection closed');
    });
  }

  private received(chunk: Buffer): void {
    let frames: Buffer[];
    try {
      frames = this.frames.push(chunk);
    } catch (err) {
      this.logger.warn({ err }, 'Unreadable frame; closing the connection');
      this.socket.destroy();
      return;
    }
    for (const frame of frames) {
      this.queue = this.queue
        .then(() => this.serve(frame))
        .catch((err: unknown) => {
          this.logger.error({ err }, 'Request handling failed; closing the connection');
          this.socket.destroy();
        });
    }
  }

  private async serve(frame: Buffer): Promise<void> {
    // destroy() is synchronous, its 'close' event is not: check both.
    if (this.closed.signal.aborted || this.socket.destroyed) return;
    const request = new Decoder(frame);
    let header: RequestHeader;
    try {
      header = {
        apiKey: request.readInt16(),
        apiVersion: request.readInt16(),
        correlationId: request.readInt32(),
        clientId: request.readString() ?? '',
      };
    } catch (err) {
      this.logger.warn({ err }, 'Unreadable request header; closing the connection');
      this.socket.destroy();
      return;
    }
    const { handlers, stats } = this.options;
    stats.requests++;
    const handler = handlers.get(header.apiKey);
    if (
      !handler ||
      header.apiVersion < handler.minVersion ||
      header.apiVersion > handler.maxVersion
    ) {
      this.logger.warn(
        { api: header.apiKey, api_version: header.apiVersion, client_id: header.clientId },
        'Unsupported API or version; answered UNSUPPORTED_VERSION',
      );
      this.send(header.correlationId, unsupportedVersionBody([...handlers.values()]));
      return;
    }

    const { apiVersion, correlationId, clientId } = header;
    this.logger.debug(
      {
        api: handler.name,
        api_version: apiVersion,
        correlation_id: correlationId,
        client_id: clientId,
      },
      'Request',
    );
    const ctx = {
      header,
      clientHost: this.socket.remoteAddress ?? '',
      signal: this.closed.signal,
      logger: this.logger,
    };
    const answered = (async () => handler.handle(request, ctx))().then(
      (body) => {
        if (body) this.send(correlationId, body);
      },
      (err: unknown) => {
        this.logger.warn(
          { err, api: handler.name, api_version: apiVersion, correlation_id: correlationId },
          'Request could not be served; closing the connection',
        );
        this.socket.destroy();
      },
    );
    if (!handler.waits) await answered;
  }

  private send(correlationId: number, body: Encoder): void {
    if (this.socket.destroyed) return;
    const head = Buffer.alloc(8);
    head.writeInt32BE(4 + body.size(), 0);
    head.writeInt32BE(correlationId, 4);
    this.socket.write(Buffer.concat([head, body.buffer]));
  }
}

export async function listen(options: ServerOptions): Promise<ListeningServer> {
  const sockets = new Set<net.Socket>();
  let connectionIds = 0;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    options.stats.connections++;
    const logger = options.logger.child({
      connection: ++connectionIds,
      client: `${socket.remoteAddress}:${socket.remotePort}`,
    });
    logger.debug('Connection opened');
    new Connection(socket, options, logger);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => options.logger.error({ err }, 'Broker server error'));
  const address = server.address() as net.AddressInfo;

  return {
    host: address.address,
    port: address.port,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
