import { expect } from 'chai';
import express, { type RequestHandler } from 'express';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { boardContentSecurityPolicy } from '../../api/admin.js';
import { consoleContentSecurityPolicy } from '../../api/routes/console.js';

/** The Content-Security-Policy header a page behind `policy` is sent with, over real HTTP. */
async function headerOf(policy: RequestHandler): Promise<string | null> {
  const app = express();
  app.get('/', policy, (_req, res) => {
    res.send('page');
  });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/`);
    await res.text();
    return res.headers.get('content-security-policy');
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

// Pinned to the letter: a browser reads the header, so any change to it is a change of behaviour.
describe("the admin pages' Content-Security-Policy headers", () => {
  it("when the ops console's page is served, then its CSP is exactly the console's", async () => {
    expect(await headerOf(consoleContentSecurityPolicy)).to.equal(
      "default-src 'self';base-uri 'self';script-src 'self';script-src-attr 'none';" +
        "style-src 'self' 'unsafe-inline';img-src 'self' data:;connect-src 'self';" +
        "object-src 'none';form-action 'self';frame-ancestors 'none'",
    );
  });

  it("when Bull Board's page is served, then its CSP is exactly the board's, with Google Fonts", async () => {
    expect(await headerOf(boardContentSecurityPolicy)).to.equal(
      "default-src 'self';base-uri 'self';script-src 'self';script-src-attr 'none';" +
        "style-src 'self' 'unsafe-inline' https://fonts.googleapis.com;" +
        "font-src 'self' data: https://fonts.gstatic.com;img-src 'self' data:;connect-src 'self';" +
        "object-src 'none';form-action 'self';frame-ancestors 'none'",
    );
  });
});
