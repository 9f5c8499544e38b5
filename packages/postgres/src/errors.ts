import { AdapterError } from '@oqronkit/core'

/**
 * The database schema is at a version this client does not know (a newer OqronKit migrated it), or is
 * behind while `migrate: false` forbids migrating: its migrations, or this client's routines (`lackedRoutines`:
 * functions another version's migrate() did not create). Nothing was changed.
 */
export class SchemaVersionError extends AdapterError {
  /** The schema that was checked. */
  readonly schema: string
  /** The newest migration recorded in the schema's ledger (0: not migrated). */
  readonly databaseVersion: number
  /** The newest migration this client ships. */
  readonly clientVersion: number
  /** This client's routines the schema lacks, by name (empty when its migrations are what is off). */
  readonly lackedRoutines: readonly string[]

  constructor(schema: string, databaseVersion: number, clientVersion: number, lackedRoutines: string[] = []) {
    super(
      databaseVersion > clientVersion
        ? `PostgreSQL schema "${schema}" is at migration ${databaseVersion}, newer than this @oqronkit/postgres knows (${clientVersion}). Upgrade @oqronkit/postgres on this node; nothing was changed.`
        : databaseVersion < clientVersion
          ? `PostgreSQL schema "${schema}" is at migration ${databaseVersion}, this @oqronkit/postgres needs ${clientVersion}. Run migrate() (or open the adapter without migrate: false); nothing was changed.`
          : `PostgreSQL schema "${schema}" lacks the routines of this @oqronkit/postgres version (${lackedRoutines.join(', ')}): another version migrated it. Run migrate() of this version (or open the adapter without migrate: false); nothing was changed.`,
    )
    this.schema = schema
    this.databaseVersion = databaseVersion
    this.clientVersion = clientVersion
    this.lackedRoutines = lackedRoutines
  }
}
