/**
 * Development mode's subscription of its webhook receiver, through the service's own admin API
 * (`/api/v1/webhook-subscriptions`, Basic auth), as a client system's operator would make one.
 */
export const SUBSCRIPTIONS_PATH = '/api/v1/webhook-subscriptions';

/** Marks the subscriptions development mode made, so a later run can remove one left behind. */
export const DEV_RECEIVER_DESCRIPTION = 'development receiver (npm run dev)';

export interface AdminApi {
  /** The web process's base URL. */
  baseUrl: string;
  user: string;
  password: string;
  /** @defaultValue 10000 */
  timeoutMs?: number;
}

export type ReceiverSubscription =
  | { subscribed: true; id: string; secret: string; removedStale: number }
  /** The API answered 404: this build has no subscription API. */
  | { subscribed: false };

interface Answer {
  status: number;
  body: unknown;
}

async function call(api: AdminApi, method: string, path: string, body?: unknown): Promise<Answer> {
  const res = await fetch(`${api.baseUrl}${path}`, {
    method,
    headers: {
      authorization: `Basic ${Buffer.from(`${api.user}:${api.password}`).toString('base64')}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(api.timeoutMs ?? 10_000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    // Not JSON (a proxy's page): the text is what the error shows.
  }
  return { status: res.status, body: parsed };
}

/** An unexpected answer, named by what was asked; only the envelope's errors, never its data. */
function unexpected(what: string, answer: Answer): Error {
  const errors = (answer.body as { errors?: unknown } | undefined)?.errors;
  const detail = errors === undefined ? '' : `: ${JSON.stringify(errors)}`;
  return new Error(`${what} answered ${answer.status}${detail}`);
}

interface Subscription {
  id: string;
  description?: string;
}

function listed(body: unknown): Subscription[] {
  const data = (body as { data?: unknown } | undefined)?.data;
  return Array.isArray(data) ? (data as Subscription[]) : [];
}

/**
 * Subscribes `receiverUrl` to every order event (`["*"]`) and answers its id and secret. Earlier
 * runs' subscriptions (their receivers long gone) are deleted first, so a restart does not leave
 * the worker retrying deliveries to dead ports for a whole retry window. A 404 means the
 * subscription API is not in this build: `{subscribed: false}`. Any other failure throws.
 */
export async function subscribeReceiver(
  api: AdminApi,
  receiverUrl: string,
): Promise<ReceiverSubscription> {
  const list = await call(api, 'GET', SUBSCRIPTIONS_PATH);
  if (list.status === 404) return { subscribed: false };
  if (list.status !== 200) throw unexpected(`GET ${SUBSCRIPTIONS_PATH}`, list);
  const stale = listed(list.body).filter((s) => s.description === DEV_RECEIVER_DESCRIPTION);
  for (const s of stale) await unsubscribeReceiver(api, s.id);

  const created = await call(api, 'POST', SUBSCRIPTIONS_PATH, {
    url: receiverUrl,
    events: ['*'],
    description: DEV_RECEIVER_DESCRIPTION,
  });
  if (created.status === 404) return { subscribed: false };
  if (created.status !== 201) throw unexpected(`POST ${SUBSCRIPTIONS_PATH}`, created);
  const data = (created.body as { data?: { id?: unknown; secret?: unknown } } | undefined)?.data;
  if (typeof data?.id !== 'string' || typeof data.secret !== 'string') {
    throw new Error(
      `POST ${SUBSCRIPTIONS_PATH} answered 201 without the subscription's id and secret`,
    );
  }
  return { subscribed: true, id: data.id, secret: data.secret, removedStale: stale.length };
}

/** Deletes the subscription; one already gone (404) is fine. */
export async function unsubscribeReceiver(api: AdminApi, id: string): Promise<void> {
  const path = `${SUBSCRIPTIONS_PATH}/${encodeURIComponent(id)}`;
  const answer = await call(api, 'DELETE', path);
  if (answer.status !== 204 && answer.status !== 404) throw unexpected(`DELETE ${path}`, answer);
}
