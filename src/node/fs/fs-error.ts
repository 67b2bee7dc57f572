/** A short human reason for a Node fs error ("no such file or directory"), without the stack or the syscall. */
export function describeFsError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err?.code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'a parent is not a directory';
    case 'ENOSPC':
      return 'no space left on device';
    case 'EEXIST':
      return 'already exists';
    default:
      return err?.code ?? (err instanceof Error ? err.message : String(e));
  }
}
