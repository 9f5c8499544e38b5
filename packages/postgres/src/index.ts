export {
  enqueueInTransaction,
  type PostgresAdapters,
  type PostgresAddOptions,
  type PostgresBroker,
  postgresAdapter,
} from './adapter.js'
export { SchemaVersionError } from './errors.js'
export { type MigrateOptions, migrate, SCHEMA_VERSION, schemaStatus } from './migrate.js'
export {
  type PostgresAdapterOptions,
  type PostgresConnection,
  postgresAdapterDefaults,
  type Sql,
  type TransactionSql,
} from './options.js'
