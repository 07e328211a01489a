import { expect } from 'chai';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { anchorsOf, checkLinks, slug } from '../../scripts/check-links.js';

describe('docs link checker (npm run docs:check)', () => {
  let root: string;

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'check-links-'));
    await mkdir(path.join(root, 'docs'));
    await writeFile(
      path.join(root, 'docs', 'guide.md'),
      [
        '# Guide',
        '',
        "## An order's journey",
        '',
        '## Deploying on Heroku (or any Procfile platform)',
        '',
        '## `KAFKA_TEST_BROKER` and _emphasis_',
        '',
        '## Notes',
        '',
        '## Notes',
        '',
        '```',
        '## Not a heading: inside a code block',
        '[not a link](missing-in-code.md)',
        '```',
        '',
        'Back to the [README](../README.md#the-two-commands), up to [here](#guide).',
      ].join('\n'),
    );
    await mkdir(path.join(root, 'node_modules', 'pkg'), { recursive: true });
    await writeFile(path.join(root, 'node_modules', 'pkg', 'README.md'), '[x](nowhere.md)\n');
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function readme(body: string): Promise<void> {
    await writeFile(path.join(root, 'README.md'), `# Service\n\n## The two commands\n\n${body}\n`);
  }

  it('when every link leads to a file and a heading, then nothing is reported', async () => {
    await readme(
      [
        'See [the journey](docs/guide.md#an-orders-journey), [Heroku](docs/guide.md#deploying-on-heroku-or-any-procfile-platform),',
        '[the broker](docs/guide.md#kafka_test_broker-and-emphasis), [notes again](docs/guide.md#notes-1),',
        '[the folder](docs/), [commands](#the-two-commands), [the web](https://example.com/#nowhere)',
        'and `[code](not-a-link.md)`.',
      ].join('\n'),
    );
    const report = await checkLinks(root);
    expect(report.broken).to.deep.equal([]);
    expect(report.files).to.equal(2);
    expect(report.links).to.equal(8);
  });

  it('when a link names a file that does not exist, then it is reported with its file and line', async () => {
    await readme('Read [operations](docs/operations.md) first.');
    const { broken } = await checkLinks(root);
    expect(broken).to.deep.equal([
      { file: 'README.md', line: 5, target: 'docs/operations.md', reason: 'no such file' },
    ]);
  });

  it('when a link names a heading the file does not have, then it is reported', async () => {
    await readme('See [retries](docs/guide.md#retries) and [here](#operating-it).');
    const { broken } = await checkLinks(root);
    expect(broken).to.deep.equal([
      {
        file: 'README.md',
        line: 5,
        target: 'docs/guide.md#retries',
        reason: 'no heading with the anchor #retries',
      },
      {
        file: 'README.md',
        line: 5,
        target: '#operating-it',
        reason: 'no heading with the anchor #operating-it',
      },
    ]);
  });

  it('when headings are turned into anchors, then they are spelt as GitHub spells them', () => {
    expect(slug("An order's journey")).to.equal('an-orders-journey');
    expect(slug('Processes (Procfile)')).to.equal('processes-procfile');
    expect(slug('Tracing (OpenTelemetry)')).to.equal('tracing-opentelemetry');
    expect(slug('Payments: the payment status and the payment’s id')).to.equal(
      'payments-the-payment-status-and-the-payments-id',
    );
    expect([...anchorsOf('# A\n\n## A\n\n## A\n')]).to.deep.equal(['a', 'a-1', 'a-2']);
  });
});
