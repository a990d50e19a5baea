// What every `agentcage cage` verb shares: the controller, and errors printed as one readable message.
import { PodmanController } from '../controller/podman/controller.ts';
import { commandExists } from '../controller/podman/exec.ts';
import { CageStore } from '../controller/podman/state.ts';

/** Prints the error as the user should read it (no stack trace) and sets the exit code. */
export async function guarded(fn: () => Promise<number | void>): Promise<void> {
  try {
    const code = await fn();
    if (typeof code === 'number') process.exitCode = code;
  } catch (err) {
    // Validation and create errors carry every problem in their message; anything else prints its message.
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = process.exitCode || 1;
  }
}

export function controller(quiet = false): PodmanController {
  if (!commandExists('podman'))
    throw new Error('podman is not installed: run `sudo scripts/install-system-deps.sh` (or `make deps`)');
  // Rootful podman and host firewall rules for each cage bridge: rootless podman cannot close the leaks.
  if (process.getuid?.() !== 0)
    throw new Error('agentcage cage needs root (rootful podman, host firewall rules): use sudo');
  return new PodmanController(new CageStore(), quiet ? () => {} : (l) => console.log(l));
}
