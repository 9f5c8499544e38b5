import { defineConfig } from 'vitest/config'

/**
 * One vitest run for the whole workspace. Workspace packages resolve to their TypeScript sources through
 * the `source` export condition, so tests never run against a stale build. `.lua` and `.sql` files load as
 * text, as tsup inlines them at build.
 */
export default defineConfig({
  plugins: [
    {
      name: 'oqron-text-files',
      transform(code, id) {
        if (id.endsWith('.lua') || id.endsWith('.sql'))
          return { code: `export default ${JSON.stringify(code)}`, map: null }
        return null
      },
    },
  ],
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    env: { TURBO_TELEMETRY_DISABLED: '1' },
  },
})
