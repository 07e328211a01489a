import Joi from 'joi';

/** The processes of the Procfile. */
export type ProcessName = 'web' | 'worker' | 'consumer';

interface Declaration<T> {
  /** The environment variable. */
  env: string;
  /** Validation and conversion of the raw string; its type is the config's type for the value. */
  rule: Joi.Schema<T>;
  /** Applied when unset. NoInfer: the rule alone decides the type; the default must fit it. */
  default?: NoInfer<T>;
  /** For .env.example and docs/configuration.md. */
  description: string;
  /** Never echoed in an error message; marked as secret in the docs. */
  secret?: boolean;
  /** Processes that refuse to start without it, or without one of its alternatives (KAFKA_URL or
   * KAFKA_BOOTSTRAP_SERVERS). For the docs: the process itself checks. */
  neededBy?: readonly ProcessName[];
  /** What .env.example shows when there is no default (a development address, say). */
  example?: string;
}

/**
 * One environment variable: everything the loader, .env.example and docs/configuration.md know of it.
 * `Out` is what the typed config holds: the rule's type, or that or undefined without a default.
 */
export class Variable<T, Out> {
  readonly env: string;
  readonly rule: Joi.Schema<T>;
  readonly default?: T;
  readonly description: string;
  readonly secret: boolean;
  readonly neededBy: readonly ProcessName[];
  readonly example?: string;

  constructor(d: Declaration<T>) {
    this.env = d.env;
    this.rule = d.rule;
    this.default = d.default;
    this.description = d.description;
    this.secret = d.secret ?? false;
    this.neededBy = d.neededBy ?? [];
    this.example = d.example;
  }

  /** The validated value as the config holds it: blank counts as unset when there is no default. */
  read(validated: unknown): Out {
    return (this.default === undefined && validated === '' ? undefined : validated) as Out;
  }
}

/**
 * A rule whose type came out as unknown is refused: a contextual type (`satisfies`, an annotation
 * on the section) makes joi's generic factories such as Joi.boolean() infer unknown.
 */
type KnownType<T> = unknown extends T
  ? { rule: 'its type is unknown: declare it unannotated' }
  : unknown;

export function variable<T>(
  d: Declaration<T> & { default: NoInfer<T> } & KnownType<T>,
): Variable<T, T>;
export function variable<T>(d: Declaration<T> & KnownType<T>): Variable<T, T | undefined>;
export function variable<T>(d: Declaration<T>): Variable<T, T | undefined> {
  return new Variable(d);
}

export type AnyVariable = Variable<unknown, unknown>;

/** Variables, or groups of them, under the names they have in the typed config. */
export interface Tree {
  readonly [key: string]: AnyVariable | Tree;
}

/**
 * A part of .env.example and docs/configuration.md: a heading and its variables. The area files do not
 * annotate their sections with this type (no `satisfies`): that contextual type would reach
 * joi's generic factories and make Joi.boolean() a rule of unknown type (KnownType refuses it).
 */
export interface Section<T extends Tree = Tree> {
  title: string;
  variables: T;
}

type Value<N> = N extends Variable<unknown, infer Out> ? Out : Settings<N>;
type OptionalKeys<T> = {
  [K in keyof T]: T[K] extends Variable<unknown, infer Out>
    ? undefined extends Out
      ? K
      : never
    : never;
}[keyof T];

/** The typed values of a tree; a variable without a default is an optional property. */
export type Settings<T> = { [K in Exclude<keyof T, OptionalKeys<T>>]: Value<T[K]> } & {
  [K in OptionalKeys<T>]?: Value<T[K]>;
};

/** Every variable of a tree, in declaration order. */
export function variablesOf(tree: Tree): AnyVariable[] {
  return Object.values(tree).flatMap((node) =>
    node instanceof Variable ? [node] : variablesOf(node),
  );
}

/** The typed values of a tree from the validated environment. */
export function readTree<T extends Tree>(tree: T, validated: Record<string, unknown>): Settings<T> {
  return Object.fromEntries(
    Object.entries(tree).map(([key, node]) => [
      key,
      node instanceof Variable ? node.read(validated[node.env]) : readTree(node, validated),
    ]),
  ) as Settings<T>;
}

export const positiveInt = Joi.number().integer().min(1);
export const httpUrl = Joi.string().uri({ scheme: ['http', 'https'] });
/** A string from a fixed list, typed as that list. */
export const oneOf = <const V extends string>(values: readonly V[]) =>
  Joi.string<V>().valid(...values);
