/** Module resolution hooks (node:module register) used by forbid-packages.ts. */
let forbidden: string[] = [];

export function initialize(data: { packages: string[] }): void {
  forbidden = data.packages;
}

type Next = (specifier: string, context: unknown) => Promise<unknown>;

export async function resolve(specifier: string, context: unknown, next: Next): Promise<unknown> {
  if (forbidden.some((p) => specifier === p || specifier.startsWith(`${p}/`))) {
    const err = new Error(`Cannot find package '${specifier}' (not installed in the serve images)`) as Error & { code: string };
    err.code = 'ERR_MODULE_NOT_FOUND';
    throw err;
  }
  return next(specifier, context);
}
