import { defineConfig, type Options } from 'tsup'

/** Shared build for every published package: ESM + CJS, declarations, sourcemaps. */
export function packageConfig(overrides: Options = {}) {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    splitting: false,
    treeshake: true,
    ...overrides,
  })
}
