import { packageConfig } from '../../tsup.base'

// Migrations are inlined as text at build: nothing reads .sql files from disk at run time.
export default packageConfig({ loader: { '.sql': 'text' } })
