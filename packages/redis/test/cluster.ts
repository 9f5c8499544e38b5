import { execFile, execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { sleep } from './helpers.js'

const run = promisify(execFile)

/** A 3-master Redis Cluster on loopback ports, started and stopped by the test itself. */
export interface LocalCluster {
  ports: number[]
  stop(): Promise<void>
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/** Three consecutive free ports (and their cluster bus ports, +10000) in 7101..7999. */
export async function freePorts(): Promise<number[]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 7101 + Math.floor(Math.random() * 890)
    const ports = [base, base + 1, base + 2]
    const all = await Promise.all([...ports, ...ports.map((p) => p + 10_000)].map(portFree))
    if (all.every(Boolean)) return ports
  }
  throw new Error('no free loopback ports for a test cluster in 7101..7999')
}

export function haveRedisServer(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
    execFileSync('redis-cli', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

async function shutdown(port: number): Promise<void> {
  await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'shutdown', 'nosave']).catch(() => undefined)
}

export async function startCluster(): Promise<LocalCluster> {
  const ports = await freePorts()
  const dir = mkdtempSync(join(tmpdir(), 'oqron-cluster-'))
  const stop = async () => {
    await Promise.all(ports.map(shutdown))
    rmSync(dir, { recursive: true, force: true })
  }
  // Daemonized servers outlive a crashed test worker; stop them when this process exits in any way.
  const onExit = () => {
    for (const port of ports) {
      try {
        execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'shutdown', 'nosave'], {
          stdio: 'ignore',
        })
      } catch {
        // already down
      }
    }
  }
  process.once('exit', onExit)
  try {
    for (const port of ports) {
      const nodeDir = join(dir, String(port))
      mkdirSync(nodeDir)
      await run('redis-server', [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(nodeDir, 'nodes.conf'),
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'yes',
        '--dir',
        nodeDir,
        '--logfile',
        join(nodeDir, 'redis.log'),
        '--pidfile',
        join(nodeDir, 'redis.pid'),
      ])
    }
    for (const port of ports) await waitFor(() => ping(port), `node ${port} to start`)
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ])
    for (const port of ports) await waitFor(() => clusterOk(port), `node ${port} to report cluster_state:ok`)
  } catch (error) {
    await stop()
    process.removeListener('exit', onExit)
    throw error
  }
  return {
    ports,
    async stop() {
      await stop()
      process.removeListener('exit', onExit)
    },
  }
}

export async function withNode<T>(port: number, fn: (node: Redis) => Promise<T>): Promise<T> {
  const node = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  })
  node.on('error', () => {})
  try {
    await node.connect()
    return await fn(node)
  } finally {
    node.disconnect()
  }
}

export const ping = (port: number) =>
  withNode(port, async (n) => (await n.ping()) === 'PONG').catch(() => false)

const clusterOk = (port: number) =>
  withNode(port, async (n) => String(await n.cluster('INFO')).includes('cluster_state:ok')).catch(() => false)

export async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    if (await check()) return
    await sleep(100)
  }
  throw new Error(`timed out waiting for ${what}`)
}
