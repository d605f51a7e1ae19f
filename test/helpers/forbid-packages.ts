import { register } from 'node:module';

/**
 * Preloaded with --import (see withoutPackages in serve-packages.ts): installs a resolve hook that
 * refuses the packages named in FORBIDDEN_PACKAGES, as if they were not installed.
 */
register('./forbid-packages-hooks.js', import.meta.url, { data: { packages: (process.env.FORBIDDEN_PACKAGES ?? '').split(/\s+/).filter(Boolean) } });
