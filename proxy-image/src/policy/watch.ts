// Notices changes to the policy and the files it points at: fs.watch for speed (on the
// directories, since Kubernetes swaps ConfigMap contents by renaming a symlink) plus a periodic
// stat, because fs.watch misses changes on some filesystems and across bind mounts.
import { watch, statSync, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';

function signature(files: readonly string[]): string {
  return files
    .map((f) => {
      try {
        const s = statSync(f);
        return `${f}:${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch {
        return `${f}:missing`;
      }
    })
    .join('|');
}

export class FileWatcher {
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private last: string;
  private files: string[];

  constructor(
    files: string[],
    private readonly onChange: () => void,
    private readonly pollMs = 2000,
  ) {
    this.files = files;
    this.last = signature(files);
    this.arm();
  }

  /** Replace the watched set (after a reload that pointed at new files). */
  setFiles(files: string[]): void {
    this.files = files;
    this.last = signature(files);
    this.closeWatchers();
    this.arm();
  }

  private arm(): void {
    for (const dir of new Set(this.files.map((f) => dirname(f)))) {
      try {
        const w = watch(dir, { persistent: false }, () => this.check());
        w.on('error', () => {});
        this.watchers.push(w);
      } catch {
        // Polling still covers it.
      }
    }
    if (!this.timer) {
      this.timer = setInterval(() => this.check(), this.pollMs);
      this.timer.unref();
    }
  }

  private check(): void {
    if (this.debounce) return;
    // Editors write in several steps: look once things settle.
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      const now = signature(this.files);
      if (now === this.last) return;
      this.last = now;
      this.onChange();
    }, 100);
    this.debounce.unref();
  }

  private closeWatchers(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
  }

  close(): void {
    this.closeWatchers();
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
    this.timer = this.debounce = undefined;
  }
}
