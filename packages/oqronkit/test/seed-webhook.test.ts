// The seed's promise about webhooks, through the meta-package: `import { webhook } from 'oqronkit'`, a signed
// delivery to a real server on 127.0.0.1, and the v0.0.2 note: cancelJob() aborts the in-flight request.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { OqronKit, OqronManager, verifyWebhook, webhook } from 'oqronkit'
import { afterAll, expect, it } from 'vitest'

const secret = `whsec_${Buffer.from('seed-webhook-secret-0123456789').toString('base64')}`
const seen: { path: string; headers: Record<string, unknown>; body: string; closed: Promise<void> }[] = []
const server = createServer((req, res) => {
  let body = ''
  req.setEncoding('utf8')
  req.on('data', (c: string) => {
    body += c
  })
  req.on('end', () => {
    const closed = new Promise<void>((resolve) => req.socket.once('close', () => resolve()))
    seen.push({ path: req.url ?? '', headers: req.headers, body, closed })
    if (req.url === '/slow') return // never answers: only a cancellation ends it
    res.writeHead(200).end('ok')
  })
})

afterAll(async () => {
  await OqronKit.stop()
  server.closeAllConnections()
  await new Promise((r) => server.close(r))
})

async function status(id: string, want: string) {
  const mgr = OqronManager.from(OqronKit.getConfig())
  for (let i = 0; i < 1_000; i++) {
    const job = await mgr.getJob(id)
    if (job?.status === want) return job
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`delivery ${id} never became ${want}`)
}

it("import { webhook } from 'oqronkit' delivers signed, and cancelJob() aborts an in-flight delivery", async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const orders = webhook({
    name: 'orders',
    allowPrivateNetworks: true, // the test server is on loopback
    security: { secret },
    endpoints: [
      { id: 'shop', url: `http://127.0.0.1:${port}/hook`, events: ['order.*'] },
      { id: 'slow', url: `http://127.0.0.1:${port}/slow`, events: ['report.**'] },
    ],
  })
  await OqronKit.init({ shutdown: { signals: false } })

  const [delivery] = await orders.fire('order.paid', { orderId: 'o_1' })
  const done = await status(delivery!.id, 'completed')
  expect(done.result).toMatchObject({ status: 200, attempt: 1 })
  const hit = seen.find((s) => s.path === '/hook')!
  expect(verifyWebhook(hit.headers as Record<string, string>, hit.body, secret).id).toBe(delivery!.webhookId)

  const [slow] = await orders.fire('report.monthly.ready', {})
  await status(slow!.id, 'active')
  while (!seen.some((s) => s.path === '/slow')) await new Promise((r) => setTimeout(r, 10))
  const mgr = OqronManager.from(OqronKit.getConfig())
  await mgr.cancelJob(slow!.id)
  await seen.find((s) => s.path === '/slow')!.closed
  expect((await mgr.getJob(slow!.id))!.status).toBe('cancelled')
})
