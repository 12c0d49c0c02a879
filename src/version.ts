// The package version, injected by the bundler (scripts/build.mjs) from package.json.

declare const __DRIFT_GUARD_VERSION__: string | undefined;

export const VERSION: string = typeof __DRIFT_GUARD_VERSION__ === 'string' ? __DRIFT_GUARD_VERSION__ : '0.0.0-dev';
