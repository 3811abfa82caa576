export default function Loading() {
  return (
    <div role="status" aria-live="polite" className="placeholder-glow">
      <span className="visually-hidden">Loading the ticket…</span>
      <div className="placeholder col-3 mb-3 rounded" />
      <div className="card" aria-hidden="true">
        <div className="card-body p-4 p-md-5">
          <div className="placeholder col-8 placeholder-lg mb-3 rounded" style={{ height: '2.25rem' }} />
          <div className="placeholder col-3 mb-4 rounded" style={{ height: '1.75rem' }} />
          <div className="placeholder col-12 col-sm-4 rounded" style={{ height: '3rem' }} />
        </div>
      </div>
    </div>
  )
}
