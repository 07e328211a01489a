import { expect } from 'chai';
import { concurrentIndexName, runsOutsideTransaction } from '../../db/migrator.js';

describe('release: which migration statements run outside a transaction', () => {
  it('when a statement builds or drops an index CONCURRENTLY, then it runs outside a transaction; any other statement inside one', () => {
    expect(runsOutsideTransaction('CREATE INDEX CONCURRENTLY "a_idx" ON "a" ("x")')).to.equal(true);
    expect(
      runsOutsideTransaction(
        '-- why\ncreate unique index concurrently if not exists a_uq on a (x)',
      ),
    ).to.equal(true);
    expect(runsOutsideTransaction('DROP INDEX CONCURRENTLY IF EXISTS "a_idx"')).to.equal(true);
    expect(runsOutsideTransaction('CREATE INDEX "a_idx" ON "a" ("x")')).to.equal(false);
    expect(runsOutsideTransaction(`ALTER TABLE "a" ADD COLUMN "concurrently" text`)).to.equal(
      false,
    );
    expect(
      runsOutsideTransaction(
        '-- CREATE INDEX CONCURRENTLY later\nALTER TABLE "a" VALIDATE CONSTRAINT "a_ck"',
      ),
    ).to.equal(false);
  });

  it('when an index is built CONCURRENTLY, then its name is found as written, and an unnamed one is refused', () => {
    expect(
      concurrentIndexName(
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "orders_x_idx" ON "orders" ("x")',
      ),
    ).to.equal('"orders_x_idx"');
    expect(concurrentIndexName('create unique index concurrently public.a_uq on a (x)')).to.equal(
      'public.a_uq',
    );
    expect(concurrentIndexName('CREATE INDEX "a_idx" ON "a" ("x")')).to.equal(undefined);
    expect(() => concurrentIndexName('CREATE INDEX CONCURRENTLY ON "a" ("x")')).to.throw(
      /explicit name/,
    );
  });
});
