import { packageConfig } from '../../tsup.base'

// The suite registers tests with the caller's vitest (a peer): never bundle it. `shims` gives the CJS build an
// `import.meta.url`, which the crash harness needs to find its child entry next to itself.
export default packageConfig({
  entry: ['src/index.ts', 'src/crash/index.ts', 'src/crash/child.ts', 'src/proxy/index.ts'],
  external: ['vitest', '@oqronkit/core', 'tsx'],
  shims: true,
})
