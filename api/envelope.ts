import type { Response } from 'express';
import type { FieldProblem } from '../lib/domain/errors.js';
import { envelope, type ErrorItem } from '../lib/platform/envelope.js';

export type { ErrorItem };

/** Sends the envelope, its meta always carrying the request id. */
export function send(
  res: Response,
  status: number,
  data: unknown,
  meta: Record<string, unknown> = {},
  errors: ErrorItem[] = [],
): void {
  res
    .status(status)
    .json(envelope(data, { request_id: res.locals.requestId as string, ...meta }, errors));
}

export function sendErrors(res: Response, status: number, errors: ErrorItem[]): void {
  send(res, status, null, {}, errors);
}

export const problemsToErrors = (code: string, problems: FieldProblem[]): ErrorItem[] =>
  problems.map((p) => ({ code, field: p.field, message: p.message }));
