/**
 * Certificates for TLS tests, made with the `openssl` command in a temporary directory: a CA of
 * the test's own, and leaf certificates it signs. Keys are unencrypted PKCS#8 PEM ("BEGIN PRIVATE
 * KEY"), the form Heroku gives in KAFKA_CLIENT_CERT_KEY and the form Kafka's PEM key store reads.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Pem {
  certPem: string;
  keyPem: string;
}

export interface TestCa extends Pem {
  /** A certificate signed by this CA. `dns`/`ips` become its subjectAltName; with neither it
   * has none, and only its CN names anything. */
  issue(opts: {
    cn: string;
    dns?: string[];
    ips?: string[];
    usage: 'serverAuth' | 'clientAuth';
  }): Promise<Pem>;
}

export interface CertificateFactory {
  newCa(cn: string): Promise<TestCa>;
  /** Removes the temporary directory. */
  cleanUp(): Promise<void>;
}

async function openssl(cwd: string, args: string[]): Promise<void> {
  try {
    await run('openssl', args, { cwd, timeout: 30_000 });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`openssl ${args[0] ?? ''} failed: ${stderr.trim()}`, { cause: err });
  }
}

export async function certificateFactory(): Promise<CertificateFactory> {
  const dir = await mkdtemp(path.join(tmpdir(), 'test-certs-'));
  let serial = 0;
  const read = (name: string) => readFile(path.join(dir, name), 'utf8');

  async function newKey(name: string): Promise<void> {
    // genpkey writes PKCS#8.
    await openssl(dir, [
      'genpkey',
      '-algorithm',
      'RSA',
      '-pkeyopt',
      'rsa_keygen_bits:2048',
      '-out',
      name,
    ]);
  }

  return {
    async newCa(cn) {
      const id = `ca-${++serial}`;
      await newKey(`${id}.key`);
      await writeFile(
        path.join(dir, `${id}.cnf`),
        [
          '[req]',
          'distinguished_name = dn',
          'x509_extensions = ext',
          'prompt = no',
          '[dn]',
          `CN = ${cn}`,
          '[ext]',
          'basicConstraints = critical, CA:TRUE',
          'keyUsage = critical, keyCertSign, cRLSign',
          'subjectKeyIdentifier = hash',
          '',
        ].join('\n'),
      );
      await openssl(dir, [
        'req',
        '-x509',
        '-new',
        '-key',
        `${id}.key`,
        '-config',
        `${id}.cnf`,
        '-days',
        '2',
        '-out',
        `${id}.pem`,
      ]);
      const ca: Pem = { certPem: await read(`${id}.pem`), keyPem: await read(`${id}.key`) };
      return {
        ...ca,
        async issue({ cn: leafCn, dns = [], ips = [], usage }) {
          const leaf = `leaf-${++serial}`;
          await newKey(`${leaf}.key`);
          await openssl(dir, [
            'req',
            '-new',
            '-key',
            `${leaf}.key`,
            '-subj',
            `/CN=${leafCn}`,
            '-out',
            `${leaf}.csr`,
          ]);
          const names = [...dns.map((d) => `DNS:${d}`), ...ips.map((ip) => `IP:${ip}`)];
          await writeFile(
            path.join(dir, `${leaf}.ext`),
            [
              'basicConstraints = critical, CA:FALSE',
              'keyUsage = critical, digitalSignature, keyEncipherment',
              `extendedKeyUsage = ${usage}`,
              'authorityKeyIdentifier = keyid',
              ...(names.length ? [`subjectAltName = ${names.join(', ')}`] : []),
              '',
            ].join('\n'),
          );
          await openssl(dir, [
            'x509',
            '-req',
            '-in',
            `${leaf}.csr`,
            '-CA',
            `${id}.pem`,
            '-CAkey',
            `${id}.key`,
            '-set_serial',
            String(serial),
            '-days',
            '2',
            '-extfile',
            `${leaf}.ext`,
            '-out',
            `${leaf}.pem`,
          ]);
          return { certPem: await read(`${leaf}.pem`), keyPem: await read(`${leaf}.key`) };
        },
      };
    },
    cleanUp: () => rm(dir, { recursive: true, force: true }),
  };
}
