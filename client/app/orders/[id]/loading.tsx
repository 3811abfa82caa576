export default function Loading() {
  return (
    <div role="status" aria-live="polite" className="placeholder-glow">
      <span className="visually-hidden">Loading the order…</span>
      <div className="placeholder col-2 mb-3 rounded" />
      <div className="placeholder col-5 col-md-3 placeholder-lg mb-4 rounded" style={{ height: '2.25rem' }} />
      <div className="row g-4" aria-hidden="true">
        <div className="col-md-6">
          {[0, 1, 2].map((i) => (
            <div key={i} className="mb-3">
              <div className="placeholder col-3 mb-1 rounded" />
              <div className="placeholder col-7 rounded" />
            </div>
          ))}
        </div>
        <div className="col-md-6">
          <div className="placeholder col-12 rounded" style={{ height: '10rem' }} />
        </div>
      </div>
    </div>
  )
}
