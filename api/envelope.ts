import type { Response } from 'express';
import type { FieldProblem } from '../lib/domain/errors.js';

export interface ErrorItem {
  code: string;
  field: string | null;
  message: string;
}

/** Every response is `{data, meta, errors}`, as the original service answered. */
export function send(
  res: Response,
  status: number,
  data: unknown,
  meta: Record<string, unknown> = {},
): void {
  res
    .status(status)
    .json({ data, meta: { request_id: res.locals.requestId as string, ...meta }, errors: [] });
}

export function sendErrors(res: Response, status: number, errors: ErrorItem[]): void {
  res
    .status(status)
    .json({ data: null, meta: { request_id: res.locals.requestId as string }, errors });
}

export const problemsToErrors = (code: string, problems: FieldProblem[]): ErrorItem[] =>
  problems.map((p) => ({ code, field: p.field, message: p.message }));
