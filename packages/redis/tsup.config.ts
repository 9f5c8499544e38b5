import { packageConfig } from '../../tsup.base'

// Lua scripts are inlined as strings: nothing is read from disk at run time.
export default packageConfig({ loader: { '.lua': 'text' } })
