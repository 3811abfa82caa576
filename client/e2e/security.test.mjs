// What a page of another origin can make a signed-in visitor's browser do
// (nothing), and what the client's own pages may run (their own nonce'd
// scripts only: no page trips its Content-Security-Policy).
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { after, before } from 'node:test'

import { BASE_URL, EVENTUAL_MS, eventually, listTicket, purchase, signUp, stories, uniqueTitle } from './helpers.mjs'

const story = stories()

// The attacker's site: another port of the same loopback host, so the
// browser sends the visitor's SameSite=Lax cookie along (same-site), and a
// fetch with an ArrayBuffer body and no Content-Type needs no preflight.
let attacker
before(async () => {
  attacker = createServer((req, res) => {
    const url = new URL(req.url, 'http://attacker')
    const ticketId = url.searchParams.get('ticket') ?? ''
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end(attackPage(ticketId))
  })
  await new Promise((resolve) => attacker.listen(0, '127.0.0.1', resolve))
})
after(() => attacker?.close())

function attackPage(ticketId) {
  const body = JSON.stringify({ ticketId })
  // A text/plain form whose one field reads as the JSON body.
  const [name, value] = [body.slice(0, -2) + '","x":"', '"}']
  return `<!doctype html><html><body>
<iframe name="sink" id="sink"></iframe>
<form id="form" method="POST" action="${BASE_URL}/api/orders" enctype="text/plain" target="sink">
  <input type="hidden" name='${name.replaceAll("'", '&#39;')}' value='${value}'>
</form>
<script>
  window.outcome = (async () => {
    const sent = []
    for (const mode of ['no-cors', 'cors']) {
      try {
        const res = await fetch(${JSON.stringify(BASE_URL + '/api/orders')}, {
          method: 'POST', mode, credentials: 'include',
          body: new TextEncoder().encode(${JSON.stringify(body)}).buffer,
        })
        sent.push(mode + ':' + res.type)
      } catch (err) {
        sent.push(mode + ':' + err.name)
      }
    }
    await new Promise((resolve) => {
      document.getElementById('sink').addEventListener('load', resolve, { once: true })
      document.getElementById('form').submit()
    })
    sent.push('form')
    return sent
  })()
</script></body></html>`
}

async function myOrders(page) {
  const res = await page.request.get('/api/orders')
  assert.equal(res.status(), 200)
  const body = await res.json()
  return Array.isArray(body) ? body : body.orders
}

// onSale has a seller list a ticket and a buyer sign up, and waits until the
// buyer may purchase it (the orders service learns of it through an event).
async function onSale(seller, buyer, what) {
  await signUp(seller.page)
  const ticketId = await listTicket(seller.page, uniqueTitle(what), '30')
  await signUp(buyer.page)
  await eventually(buyer.page, async () => {
    await buyer.page.goto(`/tickets/${ticketId}`)
    return buyer.page.getByRole('button', { name: /^Purchase for/ }).isVisible()
  }, { what: 'the ticket to be for sale', timeout: EVENTUAL_MS })
  return ticketId
}

story('a page of another origin cannot reserve a ticket in the visitor\'s name', async (join) => {
  const seller = await join()
  const victim = await join()
  const ticketId = await onSale(seller, victim, 'Cross-site bait')

  const attackURL = `http://127.0.0.1:${attacker.address().port}/?ticket=${ticketId}`
  assert.notEqual(new URL(attackURL).origin, new URL(BASE_URL).origin)
  await victim.page.goto(attackURL)
  const sent = await victim.page.evaluate(() => window.outcome)
  // no-cors goes out opaque; cors is refused by the browser after the API
  // answered without CORS headers; the form lands in the frame.
  assert.deepEqual(sent, ['no-cors:opaque', 'cors:TypeError', 'form'])

  await victim.page.goto('/')
  assert.deepEqual(await myOrders(victim.page), [], 'no order was created by another origin')

  // The same session on the site itself still reserves it: the attack
  // failed because of where it came from, not because it could not work.
  const orderId = await purchase(victim.page, ticketId)
  const orders = await myOrders(victim.page)
  assert.deepEqual(orders.map((o) => o.id), [orderId])
})

// pagesOf lists every page of the client (client/app), with the ids a
// seller's ticket and a buyer's order give them.
function pagesOf({ ticketId, orderId }) {
  return [
    '/',
    '/listings',
    '/tickets/new',
    `/tickets/${ticketId}`,
    `/tickets/${ticketId}/edit`,
    '/orders',
    `/orders/${orderId}`,
    '/no-such-page',
    '/auth/signout',
    '/auth/signin',
    '/auth/signup',
  ]
}

// watchPolicy records every CSP violation a page reports, from the first
// script on, and every console message that names the policy.
async function watchPolicy(context, page) {
  await context.addInitScript(() => {
    window.__violations = []
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__violations.push(`${e.effectiveDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`)
    })
  })
  const messages = []
  page.on('console', (msg) => {
    if (/Content Security Policy|Refused to/i.test(msg.text())) messages.push(`${page.url()}: ${msg.text()}`)
  })
  return messages
}

story('every page loads under its nonce-based policy with no violation', async (join) => {
  const seller = await join()
  const buyer = await join()
  const ticketId = await onSale(seller, buyer, 'Policy check')
  const orderId = await purchase(buyer.page, ticketId)

  const messages = [...(await watchPolicy(seller.context, seller.page)), ...(await watchPolicy(buyer.context, buyer.page))]
  const nonces = new Set()
  for (const path of pagesOf({ ticketId, orderId })) {
    // The seller may edit the ticket; the buyer sees the order.
    const { page } = path.startsWith('/tickets/') && path.endsWith('/edit') ? seller : buyer
    const res = await page.goto(path)
    await page.waitForLoadState('networkidle')
    const policy = res.headers()['content-security-policy'] ?? ''
    const nonce = /'nonce-([^']+)'/.exec(policy)?.[1]
    assert.ok(nonce, `${path} has a nonce-based policy: ${policy}`)
    assert.ok(!nonces.has(nonce), `${path} has a nonce of its own`)
    nonces.add(nonce)
    assert.match(policy, /frame-ancestors 'none'/)
    assert.match(policy, /script-src [^;]*https:\/\/js\.stripe\.com/)
    assert.ok(res.headers()['referrer-policy'], `${path} has a Referrer-Policy`)
    assert.ok(res.headers()['permissions-policy'], `${path} has a Permissions-Policy`)
    // The scripts ran: React hydrated the page (the policy did not block
    // Next's chunks), which a page that only rendered on the server would not show.
    await page.waitForFunction(() => Object.keys(document.body).some((k) => k.startsWith('__react')) ||
      [...document.querySelectorAll('body *')].some((el) => Object.keys(el).some((k) => k.startsWith('__react'))))
    assert.deepEqual(await page.evaluate(() => window.__violations), [], `${path} reported no violation`)
  }
  assert.deepEqual(messages, [], 'no page logged a policy error')
})
