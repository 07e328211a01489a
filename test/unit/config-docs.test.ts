import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import {
  CONFIG_VARIABLES,
  loadConfig,
  SECTIONS,
  type ConfigError,
} from '../../lib/platform/config.js';
import { variablesOf } from '../../lib/platform/config/define.js';
import {
  CONFIG_DOC,
  ENV_EXAMPLE,
  renderConfigDoc,
  renderEnvExample,
} from '../../scripts/config-docs.js';

const STALE = 'stale: run `npm run config:docs` and commit the result';
const declared = SECTIONS.flatMap((s) => variablesOf(s.variables));

describe('config declarations (lib/platform/config/)', () => {
  it('when listed for the docs, then they are exactly the variables the config reads, each once', () => {
    expect(declared.map((v) => v.env)).to.deep.equal(CONFIG_VARIABLES);
    expect(new Set(CONFIG_VARIABLES).size).to.equal(CONFIG_VARIABLES.length);
  });

  it('when a variable has a default, then its own rule accepts it', () => {
    for (const v of declared.filter((d) => d.default !== undefined)) {
      expect(v.rule.validate(v.default).error, v.env).to.equal(undefined);
    }
  });

  it('when a variable has an example value, then its own rule accepts it', () => {
    for (const v of declared.filter((d) => d.example !== undefined)) {
      expect(v.rule.validate(v.example).error, v.env).to.equal(undefined);
    }
  });

  it('when any variable is refused, then the message names it but never quotes the value', () => {
    const value = 'S3CRET value:with/odd chars';
    for (const v of declared) {
      let message = '';
      try {
        loadConfig({ [v.env]: value });
      } catch (e) {
        message = (e as ConfigError).message;
        expect(message, v.env).to.contain(`${v.env}`);
      }
      expect(message, v.env).not.to.contain(value);
    }
  });
});

describe('config docs (npm run config:docs)', () => {
  it('when .env.example is compared with the declarations, then it is what they generate', async () => {
    expect(await readFile(ENV_EXAMPLE, 'utf8'), `.env.example is ${STALE}`).to.equal(
      renderEnvExample(),
    );
  });

  it('when the configuration table of docs/configuration.md is compared with the declarations, then it is what they generate', async () => {
    const doc = await readFile(CONFIG_DOC, 'utf8');
    expect(doc, `docs/configuration.md's configuration table is ${STALE}`).to.equal(
      await renderConfigDoc(doc),
    );
  });
});
