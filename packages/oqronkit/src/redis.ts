export * from '@oqronkit/redis'
