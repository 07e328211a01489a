// @ts-check
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/**
 * The import direction (ARCHITECTURE.md): `api` takes data in, `lib` decides, `db` keeps it,
 * `jobs` carries it out; `scripts` are tools that nothing in the service may lean on.
 */
const importDirection = [
  {
    target: './lib/domain',
    from: './',
    // uuid's v5 is a pure function (the derived effect keys); nothing else from outside.
    except: ['./lib/domain', './node_modules/uuid'],
    message: 'lib/domain holds pure rules: it imports nothing outside itself (and uuid).',
  },
  {
    target: './db',
    from: ['./api', './jobs', './scripts', './lib/orders', './lib/peers', './lib/kafka'],
    message: 'db/ is data access: it imports only lib/domain and lib/platform.',
  },
  {
    // The outbox's contract (queue names, payload shapes, row builders) is read by lib/kafka,
    // which sends two of its payloads: it stays free of data access so that costs nothing.
    target: './db/outbox/events.ts',
    from: './',
    except: ['./lib/domain', './db/outbox/events.ts'],
    message: 'db/outbox/events.ts is the outbox contract: it imports only lib/domain.',
  },
  {
    target: ['./lib/kafka', './lib/peers'],
    from: './db',
    except: ['./outbox/events.ts'],
    message:
      'lib/kafka and lib/peers send: of db/ they read only the payload shapes (db/outbox/events.ts).',
  },
  {
    target: './jobs/outbox',
    from: './jobs/processors',
    message:
      'jobs/outbox carries any job; what a job does is its processor, handed over by jobs/start-worker.ts.',
  },
  {
    target: './lib',
    from: ['./api', './jobs', './scripts'],
    message: 'lib/ never imports the entry points (api/, jobs/) or the tools (scripts/).',
  },
  {
    target: ['./api', './jobs'],
    from: './scripts',
    message: 'scripts/ are development tools: only tests and other scripts import them.',
  },
  {
    target: './scripts',
    from: './test',
    message:
      "scripts/ never imports the service's test/: a helper both need lives in scripts/testkit.",
  },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'db/migrations/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { 'import-x': importX },
    settings: {
      // Resolves the `.js` specifiers of TypeScript ESM sources to their `.ts` files.
      'import-x/resolver-next': [createTypeScriptImportResolver()],
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
      'import-x/no-restricted-paths': ['error', { zones: importDirection }],
      // An import that does not resolve would slip past the rule above.
      'import-x/no-unresolved': ['error', { ignore: ['^node:'] }],
    },
  },
  {
    files: ['lib/**/*.ts', 'db/**/*.ts'],
    rules: {
      // By package name: node_modules is a symlink, so a path zone would not see these.
      'no-restricted-imports': [
        'error',
        ...['bullmq', 'ioredis'].map((name) => ({
          name,
          message:
            'Redis and BullMQ are jobs/ (jobs/redis.ts, jobs/outbox/queues.ts): lib/ and db/ never reach them.',
        })),
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'scripts/*/test/**/*.ts'],
    rules: {
      // chai's `expect(x).to.be.true` is a property access the rule reads as an unused expression.
      '@typescript-eslint/no-unused-expressions': 'off',
    },
  },
  prettier,
);
