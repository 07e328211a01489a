import { expect } from 'chai';
import { readdir } from 'node:fs/promises';
import {
  assertKafkajsVersion,
  installedKafkajsVersion,
  KAFKAJS_VERSION,
} from '../kafkajs-internals.js';

describe("the broker's way into kafkajs's internals", function () {
  it('when the installed kafkajs is the version the declarations were read against, then the broker loads', function () {
    expect(installedKafkajsVersion()).to.equal(KAFKAJS_VERSION);
    expect(() => assertKafkajsVersion(KAFKAJS_VERSION)).not.to.throw();
  });

  it('when another kafkajs is installed, then loading fails naming both versions and the file to check', function () {
    expect(() => assertKafkajsVersion('2.3.0')).to.throw(
      /kafkajs 2\.2\.4, but kafkajs 2\.3\.0 is installed: check scripts\/kafka-broker\/kafkajs-internals\.ts/,
    );
  });

  it('when kafkajs is patched (scripts/patches), then the patch is for the same version', async function () {
    const patches = (await readdir('scripts/patches')).filter((f) => f.startsWith('kafkajs+'));
    expect(patches).to.deep.equal([`kafkajs+${KAFKAJS_VERSION}.patch`]);
  });
});
