import { packageConfig } from '../../tsup.base'

// Adapters are subpaths, so `import 'oqronkit'` loads no database driver.
export default packageConfig({ entry: ['src/index.ts', 'src/redis.ts', 'src/postgres.ts', 'src/cli.ts'] })
