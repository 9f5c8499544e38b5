export * from '@oqronkit/postgres'
