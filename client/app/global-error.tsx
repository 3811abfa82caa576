'use client'

// The last resort, when even the root layout failed (for example the API was
// unreachable while rendering the header). It has no access to the layout's
// styles, so it keeps to plain markup.
export default function GlobalError({ retry }: { error: unknown; retry: () => void }) {
  return (
    <html lang="en">
      <body style={{ fontFamily: 'system-ui, sans-serif', padding: '3rem 1rem', textAlign: 'center' }}>
        <title>Ticketing is unavailable</title>
        <h1>Ticketing is unavailable right now</h1>
        <p>The service did not answer. It is usually back within moments.</p>
        <button type="button" onClick={() => retry()} style={{ fontSize: '1rem', padding: '0.5rem 1rem' }}>
          Try again
        </button>
      </body>
    </html>
  )
}
