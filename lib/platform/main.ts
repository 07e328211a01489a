import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** True when the module at `metaUrl` is the script node was started with (an entry file). */
export function isMain(metaUrl: string): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return (
      realpathSync(script).replace(/\.[cm]?[jt]s$/, '') ===
      fileURLToPath(metaUrl).replace(/\.[cm]?[jt]s$/, '')
    );
  } catch {
    // argv[1] may name something that is not a file (node -e); then this module is not the entry.
    return false;
  }
}
