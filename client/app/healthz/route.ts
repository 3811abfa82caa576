// Liveness for probes and the local runner: the server is up and answering.
// It does not call the API, so the client never looks dead because a service
// behind it is restarting.
export function GET() {
  return Response.json({ status: 'ok' }, { headers: { 'cache-control': 'no-store' } })
}
