/**
 * `npm run docs:check`: every relative link in the repository's Markdown files must lead somewhere.
 * A link's file (or folder) must exist, and its `#anchor` must name a heading of that file (or of
 * the file the link is in) as GitHub spells headings' anchors. Links with a scheme (https:,
 * mailto:) are left alone: CI checks nothing over the network. Text in code (fenced blocks and
 * `spans`) is not a link. Prints each broken link with its file and line, and exits 1 if any.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMain } from '../lib/platform/main.js';

/** Folders whose Markdown is not ours to check (installed, built or generated). */
const SKIPPED_DIRS = new Set(['node_modules', 'dist', 'coverage']);

export interface BrokenLink {
  /** The file holding the link, relative to the root searched. */
  file: string;
  line: number;
  target: string;
  reason: string;
}

export interface LinkReport {
  files: number;
  links: number;
  broken: BrokenLink[];
}

/** Every *.md file under `root`, skipping dependencies, build output and dot-folders. */
async function markdownFiles(root: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!SKIPPED_DIRS.has(entry.name) && !entry.name.startsWith('.')) await walk(full);
      } else if (entry.isFile() && entry.name.endsWith('.md')) found.push(full);
    }
  };
  await walk(root);
  return found.sort();
}

/** The file's lines with fenced code blocks blanked, so that nothing in them counts. */
function proseLines(markdown: string): string[] {
  let fence: string | undefined;
  return markdown.split('\n').map((line) => {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence) {
      if (marker && marker[0] === fence[0] && marker.length >= fence.length) fence = undefined;
      return '';
    }
    if (marker) {
      fence = marker;
      return '';
    }
    return line;
  });
}

/** A heading's text as GitHub renders it: code spans kept as text, emphasis and link targets dropped. */
function headingText(raw: string): string {
  return raw
    .split(/(`[^`]*`)/)
    .map((part, i) =>
      i % 2
        ? part.slice(1, -1)
        : part
            .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
            .replace(/<[^>]+>/g, '')
            .replace(/\*+/g, '')
            .replace(/(^|[^\p{L}\p{N}])_+([^_]+?)_+(?=[^\p{L}\p{N}]|$)/gu, '$1$2'),
    )
    .join('');
}

/**
 * GitHub's anchor for a heading (github-slugger): lower case, every character that is not a
 * letter, mark, digit, connector (`_`), space or `-` dropped, spaces made `-`.
 */
export function slug(heading: string): string {
  return headingText(heading)
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors a Markdown file offers: its headings' slugs (a repeat gets -1, -2, …) and HTML ids. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const add = (base: string) => {
    const n = seen.get(base);
    seen.set(base, (n ?? -1) + 1);
    anchors.add(n === undefined ? base : `${base}-${n + 1}`);
  };
  const lines = proseLines(markdown);
  lines.forEach((line, i) => {
    const atx = /^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line);
    if (atx) add(slug(atx[1] ?? ''));
    else if (/^ {0,3}(=+|-+)\s*$/.test(line) && i > 0) {
      const previous = lines[i - 1] ?? '';
      if (previous.trim() && !/^\s*([-*+]|\d+[.)]|\||>)/.test(previous)) add(slug(previous));
    }
    for (const m of line.matchAll(/<a\s[^>]*(?:id|name)="([^"]+)"/g)) anchors.add(m[1] ?? '');
  });
  return anchors;
}

/** The link targets on one line of prose, code spans left out. */
function targetsOn(line: string): string[] {
  const prose = line.replace(/(`+)[^`]*?\1/g, '');
  const targets: string[] = [];
  for (const m of prose.matchAll(/\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+"[^"]*")?\s*\)/g)) {
    targets.push((m[1] ?? '').replace(/^<|>$/g, ''));
  }
  const definition = /^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/.exec(prose);
  if (definition) targets.push((definition[1] ?? '').replace(/^<|>$/g, ''));
  return targets;
}

const hasScheme = (target: string) => /^[a-z][a-z0-9+.-]*:/i.test(target);

async function exists(file: string): Promise<'file' | 'dir' | undefined> {
  try {
    const s = await stat(file);
    return s.isDirectory() ? 'dir' : 'file';
  } catch {
    return undefined;
  }
}

/** Checks every relative link of every Markdown file under `root`. */
export async function checkLinks(root: string): Promise<LinkReport> {
  const files = await markdownFiles(root);
  const anchorCache = new Map<string, Set<string>>();
  const anchorsIn = async (file: string) => {
    let anchors = anchorCache.get(file);
    if (!anchors) {
      anchors = anchorsOf(await readFile(file, 'utf8'));
      anchorCache.set(file, anchors);
    }
    return anchors;
  };
  const broken: BrokenLink[] = [];
  let links = 0;
  for (const file of files) {
    const lines = proseLines(await readFile(file, 'utf8'));
    for (const [i, line] of lines.entries()) {
      for (const target of targetsOn(line)) {
        if (hasScheme(target)) continue;
        links++;
        const report = (reason: string) =>
          broken.push({ file: path.relative(root, file), line: i + 1, target, reason });
        const hash = target.indexOf('#');
        const filePart = decodeURIComponent(hash < 0 ? target : target.slice(0, hash));
        const anchor = hash < 0 ? undefined : decodeURIComponent(target.slice(hash + 1));
        const resolved = !filePart
          ? file
          : filePart.startsWith('/')
            ? path.join(root, filePart)
            : path.resolve(path.dirname(file), filePart);
        const kind = await exists(resolved);
        if (!kind) {
          report('no such file');
          continue;
        }
        if (anchor === undefined || anchor === '') continue;
        if (kind !== 'file' || !resolved.endsWith('.md')) {
          report('an anchor into something that is not a Markdown file');
        } else if (!(await anchorsIn(resolved)).has(anchor)) {
          report(`no heading with the anchor #${anchor}`);
        }
      }
    }
  }
  return { files: files.length, links, broken };
}

if (isMain(import.meta.url)) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const { files, links, broken } = await checkLinks(root);
  for (const b of broken) console.error(`${b.file}:${b.line}: ${b.target}: ${b.reason}`);
  console.log(
    `docs links: ${links} relative links in ${files} Markdown files, ${broken.length} broken`,
  );
  if (broken.length) process.exitCode = 1;
}
